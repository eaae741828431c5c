"""Which catalog column fills which document field: the caller's mapping, then the columns'
own names made safe (`Material Type` -> `material_type`)."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from visearch.ingest.catalog.errors import CatalogError
from visearch.mappings.fields import (
    CORE_FIELDS,
    EXTRA_IMAGE_COLUMN,
    RESERVED_FIELDS,
    STANDARD_ATTRIBUTES,
)

_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_KNOWN_FIELDS = frozenset(CORE_FIELDS) | frozenset(STANDARD_ATTRIBUTES)


def safe_field_name(column: str) -> str:
    """A column name as a document field: lowercase [a-z0-9_], starting with a letter.

    Names that start with a digit or collide with ingest's own fields get an `attr_` prefix, so
    a catalog can never overwrite the vector or the bookkeeping. "" when nothing usable is left.
    """
    ascii_name = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    if name and (not name[0].isalpha() or name in RESERVED_FIELDS):
        name = f"attr_{name}"
    return name


def checked_mapping(pairs: Mapping[str, str] | None, where: str = "mapping") -> dict[str, str]:
    """field -> column pairs, each field a usable name and mapped once."""
    mapping: dict[str, str] = {}
    for name, column in (pairs or {}).items():
        add_mapping(mapping, str(name).strip(), str(column).strip(), where)
    return mapping


def add_mapping(mapping: dict[str, str], name: str, column: str, where: str) -> None:
    """Check one field -> column pair into `mapping`; a field may be mapped only once."""
    if not _FIELD_RE.match(name) or name in RESERVED_FIELDS:
        raise CatalogError(
            f"{where}: {name!r} is not a usable field name "
            "(lowercase letters, digits and _, starting with a letter; not an internal field)",
            "bad_field_name",
            field=name,
        )
    if not column:
        raise CatalogError(
            f"{where}: no column given for field {name!r}", "bad_mapping", field=name
        )
    if mapping.get(name, column) != column:
        raise CatalogError(
            f"{where}: field {name!r} is mapped twice ({mapping[name]!r}, {column!r})",
            "bad_mapping",
            field=name,
        )
    mapping[name] = column


def load_mapping_file(path: Path) -> dict[str, str]:
    """A JSON object `{"colour": "baseColour", ...}` from a file, checked like any mapping."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"mapping file not found: {path}", "bad_mapping_file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read mapping file {path}: {exc}", "bad_mapping_file") from None
    except json.JSONDecodeError as exc:
        message = f"mapping file {path} is not valid JSON: {exc}"
        raise CatalogError(message, "bad_mapping_file") from None
    if not isinstance(data, dict):
        message = f'mapping file {path} must hold a JSON object like {{"colour": "Color"}}'
        raise CatalogError(message, "bad_mapping_file")
    mapping: dict[str, str] = {}
    for name, column in data.items():
        if not isinstance(column, str):
            message = f"mapping file {path}: {name!r} must name a column (a string)"
            raise CatalogError(message, "bad_mapping_file")
        add_mapping(mapping, name.strip(), column.strip(), f"mapping file {path}: {name!r}")
    return mapping


@dataclass(frozen=True)
class ColumnPlan:
    """Which source column fills each of our fields, for one set of catalog columns."""

    fields: dict[str, str]  # our field -> source column
    extras: tuple[str, ...]  # attribute names beyond STANDARD_ATTRIBUTES


def plan_columns(
    columns: Sequence[str], mapping: dict[str, str], *, all_present: bool
) -> ColumnPlan:
    """Match catalog columns to fields: the mapping first, then columns by their safe name."""
    fields = _mapped_fields(columns, mapping, all_present=all_present)
    names = {column: safe_field_name(column) for column in columns}
    _default_brand(fields, names, mapping)
    sources = set(fields.values())
    for column, name in names.items():
        if not name:
            raise CatalogError(
                f"column {column!r} has no usable field name; rename it or map a field to it",
                "unnamed_column",
                column=column,
            )
        if name in mapping or (name not in _KNOWN_FIELDS and column in sources):
            continue  # the mapping chose another column for this field, or already uses this one
        if fields.setdefault(name, column) != column:
            raise CatalogError(
                f"columns {fields[name]!r} and {column!r} both give field {name!r}; "
                "rename one or map the field to one of them",
                "ambiguous_columns",
                field=name,
                columns=[fields[name], column],
            )
    extras = (name for name in fields if name not in _KNOWN_FIELDS)
    return ColumnPlan(
        fields, tuple(name for name in extras if not EXTRA_IMAGE_COLUMN.fullmatch(name))
    )


def _mapped_fields(
    columns: Sequence[str], mapping: dict[str, str], *, all_present: bool
) -> dict[str, str]:
    """The mapping's fields whose column exists; with all_present, a missing one is an error."""
    present = set(columns)
    for name, column in mapping.items():
        if all_present and column not in present:
            raise CatalogError(
                f"field {name} is mapped to column {column!r}, which the catalog does not have "
                f"(columns: {', '.join(columns)})",
                "mapped_column_missing",
                field=name,
                column=column,
                columns=list(columns),
            )
    return {name: column for name, column in mapping.items() if column in present}


def _default_brand(
    fields: dict[str, str], names: Mapping[str, str], mapping: dict[str, str]
) -> None:
    """The fashion catalog's `brand_guess` is its brand when nothing else claims brand."""
    if "brand" in mapping or "brand" in names.values():
        return
    guess = next((column for column, name in names.items() if name == "brand_guess"), None)
    if guess is not None:
        fields["brand"] = guess
