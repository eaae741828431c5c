"""JSONL catalogs: one JSON object per line, each planned by its own keys.

Records may differ in their keys, so a record whose keys cannot be planned (two keys giving
one field) fails alone. What can only be judged over the whole file (a mapped key no record
has, no record with a sku) is checked when the last line has been read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from visearch.ingest.catalog.columns import ColumnPlan, plan_columns
from visearch.ingest.catalog.errors import CatalogError
from visearch.ingest.catalog.lines import Lines
from visearch.ingest.catalog.records import RecordChecker
from visearch.ingest.records import Product, RowError


class JsonlCatalog:
    def __init__(self, lines: Lines, mapping: dict[str, str]) -> None:
        self._lines = lines
        self._mapping = mapping
        self._plans: dict[tuple[str, ...], ColumnPlan | CatalogError] = {}
        self._extras: dict[str, None] = {}

    @property
    def extras(self) -> tuple[str, ...]:
        """Extra attributes of the records read so far."""
        return tuple(self._extras)

    def records(self, checker: RecordChecker) -> Iterator[Product | RowError]:
        seen_keys: set[str] = set()  # keys of the records that parsed
        has_sku = False
        sku_key = self._mapping.get("sku", "sku")
        for line, text in _numbered(self._lines):
            obj, problem = _json_object(text)
            problem = self._lines.encoding_problem() or problem
            if obj is None or problem is not None:
                yield checker.unreadable(line, problem or "", _guess_sku(text, sku_key))
                continue
            flat, problems = _flatten(obj)
            seen_keys.update(flat)
            plan = self._plan(tuple(flat), line)
            if isinstance(plan, CatalogError):
                yield checker.unusable(line, str(plan), flat.get(sku_key) or None)
                continue
            has_sku = has_sku or "sku" in plan.fields
            values = {name: flat[column] for name, column in plan.fields.items()}
            yield checker.check(values, line, problems)
        _check_columns(has_sku, seen_keys, self._mapping)

    def _plan(self, keys: tuple[str, ...], line: int) -> ColumnPlan | CatalogError:
        if keys not in self._plans:
            try:
                plan: ColumnPlan | CatalogError = plan_columns(
                    keys, self._mapping, all_present=False
                )
                self._extras.update(dict.fromkeys(plan.extras))
            except CatalogError as error:
                plan = error
            self._plans[keys] = plan
        return self._plans[keys]


def _numbered(lines: Lines) -> Iterator[tuple[int, str]]:
    while True:
        lines.start_record()
        text = next(lines, None)
        if text is None:
            return
        if text.strip():
            yield lines.first_line(), text


def _json_object(text: str) -> tuple[dict | None, str | None]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    if not isinstance(obj, dict):
        return None, f"line is a JSON {type(obj).__name__}, not an object"
    return obj, None


def _flatten(obj: dict) -> tuple[dict[str, str], list[str]]:
    """Top-level keys plus those of an "attributes" object (top level wins), as stripped text."""
    nested = obj.get("attributes") or {}
    problems = [] if isinstance(nested, dict) else ["attributes must be a JSON object"]
    merged = {**(nested if isinstance(nested, dict) else {}), **obj}
    merged.pop("attributes", None)
    flat: dict[str, str] = {}
    for key, value in merged.items():
        text = _json_text(value)
        if text is None:
            problems.append(f"{key} is a JSON {type(value).__name__}; only text and numbers work")
        flat[str(key).strip()] = text or ""
    return flat, problems


def _json_text(value: object) -> str | None:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value).strip()
    return None


def _check_columns(has_sku: bool, seen_keys: set[str], mapping: dict[str, str]) -> None:
    """Like a CSV header check, over all records: the sku field and every mapped key occur."""
    if not seen_keys:
        return  # no record parsed at all; each is already reported
    unused = [(name, column) for name, column in mapping.items() if column not in seen_keys]
    if unused:
        name, column = unused[0]
        message = f"field {name} is mapped to key {column!r}, which no catalog record has"
        raise CatalogError(message, "mapped_column_missing", field=name, column=column)
    if not has_sku:
        message = "catalog records have no 'sku' field"
        raise CatalogError(message, "missing_column", field="sku", columns=sorted(seen_keys))


def _guess_sku(text: str, sku_key: str) -> str | None:
    """Best-effort sku of an unparseable JSON line."""
    pattern = rf'"{re.escape(sku_key)}"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+))'
    match = re.search(pattern, text)
    if not match:
        return None
    return (match.group(1) if match.group(1) is not None else match.group(2)).strip() or None
