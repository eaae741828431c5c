"""Labelled evaluation queries (CSV or JSONL): an image or a text, and the SKUs that are right."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path


class QueriesError(ValueError):
    """The queries file cannot be used; the message names the line and the reason."""


@dataclass(frozen=True)
class EvalQuery:
    query_id: str
    relevant: tuple[str, ...]
    image: str | None = None  # resolved path or URL
    text: str | None = None
    group: str | None = None  # for the per-category breakdown, when the file has one


def _split_skus(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(part for part in re.split(r"[|;,\s]+", str(value or "").strip()) if part)


def read_queries(
    path: Path, *, split: str | None = None, group_by: str | None = None
) -> list[EvalQuery]:
    """Rows with `image` or `text`, and `relevant_skus` (separated by | ; , or spaces).

    Images are relative to the queries file. `split` keeps rows whose `split` column matches;
    `group_by` names the column used for the per-category breakdown (default: `category`
    or `subcategory` when present)."""
    if not path.is_file():
        raise QueriesError(f"queries file {path} not found")
    rows = list(_rows(path))
    queries = []
    for line, row in rows:
        if split is not None and row.get("split") != split:
            continue
        image, text = (row.get("image") or "").strip(), (row.get("text") or "").strip()
        relevant = _split_skus(row.get("relevant_skus", row.get("relevant")))
        if not (image or text):
            raise QueriesError(f"{path}:{line}: a query needs an image or a text")
        if not relevant:
            raise QueriesError(f"{path}:{line}: no relevant_skus")
        if image and "://" not in image and not Path(image).is_absolute():
            image = str(path.parent / image)
        column = group_by or next((c for c in ("category", "subcategory") if row.get(c)), None)
        queries.append(
            EvalQuery(
                query_id=str(row.get("query_id") or f"line-{line}"),
                relevant=relevant,
                image=image or None,
                text=text or None,
                group=str(row.get(column)) if column and row.get(column) else None,
            )
        )
    if not queries:
        raise QueriesError(f"{path}: no queries" + (f" in split {split!r}" if split else ""))
    return queries


def _rows(path: Path):  # noqa: ANN202 - (line, row) pairs
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for line, text in enumerate(handle, start=1):
                if text.strip():
                    try:
                        yield line, json.loads(text)
                    except json.JSONDecodeError as error:
                        raise QueriesError(f"{path}:{line}: bad JSON: {error}") from error
        return
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            yield reader.line_num, row
