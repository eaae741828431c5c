"""Read a product catalog (CSV, TSV or JSONL) into validated Products and per-row errors.

A broken row never stops the nightly run: it becomes a RowError with its line number and reading
goes on. Only a catalog that is unusable as a whole (missing, unknown format, no sku or image
column, a mapping naming a column that does not exist, not UTF-8) raises CatalogError, whose
message says how to fix it. Every sku seen, even on a broken row, is reported so that a sync
never deletes a product only because its row is temporarily broken.
"""

from __future__ import annotations

import csv
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

from ingest.records import (
    CORE_FIELDS,
    EXTRA_IMAGE_COLUMN,
    RESERVED_FIELDS,
    STANDARD_ATTRIBUTES,
    Product,
    RowError,
)

__all__ = [
    "CatalogError",
    "CatalogRead",
    "load_mapping_file",
    "parse_mapping",
    "read_catalog",
    "safe_field_name",
]

_FORMATS = {"csv": "csv", "tsv": "tsv", "jsonl": "jsonl", "ndjson": "jsonl"}
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_KNOWN_FIELDS = frozenset(CORE_FIELDS) | frozenset(STANDARD_ATTRIBUTES)
_MAX_SKU_BYTES = 512  # OpenSearch rejects longer document ids
_IN_STOCK = {"true": True, "yes": True, "1": True, "in stock": True}
_OUT_OF_STOCK = {"false": False, "no": False, "0": False, "out of stock": False}
_STOCK_WORDS = "true/false/yes/no/1/0/in stock/out of stock"


class CatalogError(Exception):
    """The catalog as a whole cannot be used; the message says how to fix it."""


@dataclass
class CatalogRead:
    """Everything one read of a catalog produced."""

    products: list[Product]
    errors: list[RowError]
    seen_skus: set[str]
    rows: int
    extra_attributes: tuple[str, ...]


# --- mapping ---------------------------------------------------------------------------------


def parse_mapping(specs: Iterable[str]) -> dict[str, str]:
    """`["colour=baseColour"]` -> `{"colour": "baseColour"}` (our field -> catalog column)."""
    mapping: dict[str, str] = {}
    for spec in specs:
        name, sep, column = spec.partition("=")
        if not sep:
            raise CatalogError(
                f"bad mapping {spec!r}: expected <field>=<column>, e.g. colour=Color"
            )
        _add_mapping(mapping, name.strip(), column.strip(), f"mapping {spec!r}")
    return mapping


def load_mapping_file(path: Path) -> dict[str, str]:
    """A JSON object `{"colour": "baseColour", ...}` from a file, checked like parse_mapping."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"mapping file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read mapping file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CatalogError(f"mapping file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CatalogError(
            f'mapping file {path} must hold a JSON object like {{"colour": "Color"}}'
        )
    mapping: dict[str, str] = {}
    for name, column in data.items():
        if not isinstance(column, str):
            raise CatalogError(f"mapping file {path}: {name!r} must name a column (a string)")
        _add_mapping(mapping, name.strip(), column.strip(), f"mapping file {path}: {name!r}")
    return mapping


def _add_mapping(mapping: dict[str, str], name: str, column: str, where: str) -> None:
    """Check one field -> column pair; a field may be mapped only once."""
    if not _FIELD_RE.match(name) or name in RESERVED_FIELDS:
        raise CatalogError(
            f"{where}: {name!r} is not a usable field name "
            "(lowercase letters, digits and _, starting with a letter; not an internal field)"
        )
    if not column:
        raise CatalogError(f"{where}: no column given for field {name!r}")
    if mapping.get(name, column) != column:
        raise CatalogError(
            f"{where}: field {name!r} is mapped twice ({mapping[name]!r}, {column!r})"
        )
    mapping[name] = column


def _checked(mapping: Mapping[str, str] | None) -> dict[str, str]:
    """A caller-built mapping gets the same checks as one from parse_mapping."""
    checked: dict[str, str] = {}
    for name, column in (mapping or {}).items():
        _add_mapping(checked, str(name).strip(), str(column).strip(), "mapping")
    return checked


# --- column planning -------------------------------------------------------------------------


def safe_field_name(column: str) -> str:
    """A column name as a document field: lowercase [a-z0-9_], starting with a letter.

    Names that start with a digit or collide with ingest's own fields get an `attr_` prefix, so a
    catalog can never overwrite the vector or the bookkeeping. "" when nothing usable is left.
    """
    ascii_name = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    if name and (not name[0].isalpha() or name in RESERVED_FIELDS):
        name = f"attr_{name}"
    return name


@dataclass(frozen=True)
class _Plan:
    """Which source column fills each of our fields, for one set of catalog columns."""

    fields: dict[str, str]  # our field -> source column
    extras: tuple[str, ...]  # attribute names beyond STANDARD_ATTRIBUTES


def _plan(columns: Sequence[str], mapping: dict[str, str], *, all_present: bool) -> _Plan:
    """Match catalog columns to fields: the mapping first, then columns by their safe name."""
    fields = _mapped_fields(columns, mapping, all_present=all_present)
    names = {column: safe_field_name(column) for column in columns}
    _default_brand(fields, names, mapping)
    sources = set(fields.values())
    for column, name in names.items():
        if not name:
            raise CatalogError(
                f"column {column!r} has no usable field name; "
                f"rename it or pass --map <field>={column}"
            )
        if name in mapping or (name not in _KNOWN_FIELDS and column in sources):
            continue  # the mapping chose another column for this field, or already uses this one
        if fields.setdefault(name, column) != column:
            raise CatalogError(
                f"columns {fields[name]!r} and {column!r} both give field {name!r}; "
                f"rename one or pass --map {name}=<column>"
            )
    extras = (name for name in fields if name not in _KNOWN_FIELDS)
    return _Plan(fields, tuple(name for name in extras if not EXTRA_IMAGE_COLUMN.fullmatch(name)))


def _mapped_fields(
    columns: Sequence[str], mapping: dict[str, str], *, all_present: bool
) -> dict[str, str]:
    """The mapping's fields whose column exists; with all_present, a missing one is an error."""
    present = set(columns)
    for name, column in mapping.items():
        if all_present and column not in present:
            raise CatalogError(
                f"--map {name}={column}: the catalog has no column {column!r} "
                f"(columns: {', '.join(columns)})"
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


# --- physical lines --------------------------------------------------------------------------


class _Lines:
    """A UTF-8 file's lines with their numbers; lines can be pushed back to be read again."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._pending: list[tuple[int, str]] = []  # pushed back; the last one comes next
        self._next_number = 1
        self.taken: list[tuple[int, str]] = []  # lines handed out since start_record()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._pending:
            item = self._pending.pop()
        else:
            raw = self._stream.readline()
            if not raw:
                raise StopIteration
            item = (self._next_number, _decode(raw, self._next_number))
            self._next_number += 1
        self.taken.append(item)
        return item[1]

    def start_record(self) -> None:
        self.taken = []

    def first_line(self) -> int:
        return self.taken[0][0] if self.taken else self._next_number

    def push_back_all_but_first(self) -> None:
        """Re-read the lines a broken record swallowed, so one bad line costs only itself."""
        self._pending.extend(reversed(self.taken[1:]))
        self.taken = self.taken[:1]


def _decode(raw: bytes, number: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"catalog line {number} is not valid UTF-8 ({exc.reason} at byte {exc.start}); "
            "save the catalog as UTF-8"
        ) from None
    return text.removeprefix("\ufeff") if number == 1 else text


# --- collecting rows -------------------------------------------------------------------------


@dataclass
class _Collector:
    """Turns records into products and errors; the first record of a sku wins."""

    products: list[Product] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    seen_skus: set[str] = field(default_factory=set)
    first_line: dict[str, int] = field(default_factory=dict)
    rows: int = 0

    def unreadable(self, line: int, reason: str, sku_guess: str | None) -> None:
        """A record that could not be parsed; its sku, if one can be guessed, still counts."""
        self.rows += 1
        if sku_guess:
            self.seen_skus.add(sku_guess)
        self.errors.append(RowError(sku=sku_guess or None, stage="read", reason=reason, line=line))

    def record(self, values: dict[str, str], line: int, problems: Sequence[str] = ()) -> None:
        self.rows += 1
        sku = values.get("sku", "")
        if sku:
            self.seen_skus.add(sku)
            if sku in self.first_line:
                reason = f"duplicate sku, first seen on line {self.first_line[sku]}"
                self.errors.append(RowError(sku=sku, stage="validate", reason=reason, line=line))
                return
            self.first_line[sku] = line
        result = _validate(values, line, list(problems))
        if isinstance(result, Product):
            self.products.append(result)
        else:
            reason = "; ".join(result)
            self.errors.append(
                RowError(sku=sku or None, stage="validate", reason=reason, line=line)
            )

    def result(self, extras: Iterable[str]) -> CatalogRead:
        return CatalogRead(self.products, self.errors, self.seen_skus, self.rows, tuple(extras))


def _validate(values: dict[str, str], line: int, problems: list[str]) -> Product | list[str]:
    """A Product, or every reason the record is unusable (so one fix pass suffices)."""
    sku, image = values.get("sku", ""), values.get("image", "")
    if not sku:
        problems.append("missing sku")
    elif len(sku.encode()) > _MAX_SKU_BYTES:
        problems.append(f"sku is longer than {_MAX_SKU_BYTES} bytes")
    if not image:
        problems.append("missing image")
    price = _number("price", values.get("price", ""), problems)
    popularity = _number("popularity", values.get("popularity", ""), problems)
    in_stock = _stock(values.get("in_stock", ""), problems)
    if problems:
        return problems
    attributes = {
        name: value
        for name, value in values.items()
        if name not in CORE_FIELDS and not EXTRA_IMAGE_COLUMN.fullmatch(name)
    }
    return Product(
        sku=sku,
        image=image,
        title=values.get("title", ""),
        description=values.get("description", ""),
        price=price,
        in_stock=in_stock,
        popularity=popularity,
        attributes={name: value for name, value in attributes.items() if value},
        line=line,
        extra_images=_extra_images(values, image),
    )


def _extra_images(values: dict[str, str], image: str) -> tuple[str, ...]:
    """More photos: the `images` field (| separated), then image_2, image_3, ... in order."""
    numbered = sorted(
        (int(match.group(1)), value)
        for name, value in values.items()
        if (match := EXTRA_IMAGE_COLUMN.fullmatch(name)) and value
    )
    found = [ref.strip() for ref in values.get("images", "").split("|")]
    found += [value for _, value in numbered]
    unique = dict.fromkeys(ref for ref in found if ref and ref != image)
    return tuple(unique)


def _number(name: str, text: str, problems: list[str]) -> float | None:
    """A finite, non-negative float; blank means unknown."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        problems.append(f"{name} {text!r} is not a number")
        return None
    if not math.isfinite(value):
        problems.append(f"{name} {text!r} is not a finite number")
    elif value < 0:
        problems.append(f"{name} {text!r} is negative")
    return value


def _stock(text: str, problems: list[str]) -> bool | None:
    if not text:
        return None
    word = " ".join(text.lower().replace("_", " ").replace("-", " ").split())
    if word in _IN_STOCK:
        return True
    if word in _OUT_OF_STOCK:
        return False
    problems.append(f"in_stock {text!r} is not one of {_STOCK_WORDS}")
    return None


# --- CSV / TSV -------------------------------------------------------------------------------


def _read_csv(lines: _Lines, mapping: dict[str, str], delimiter: str) -> CatalogRead:
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header = _header(reader, lines)
    columns = [column for column in header if column]
    plan = _plan(columns, mapping, all_present=True)
    for required in ("sku", "image"):
        if required not in plan.fields:
            raise CatalogError(
                f"catalog has no {required!r} column; pass --map {required}=<column> "
                f"(columns: {', '.join(columns)})"
            )
    sku_index = header.index(plan.fields["sku"])
    out = _Collector()
    for record in _csv_records(reader, lines, len(header)):
        if record.problem is not None:
            sku_guess = _guess_csv_sku(record.first_text, sku_index, delimiter)
            out.unreadable(record.line, record.problem, sku_guess)
            continue
        row = {column: value.strip() for column, value in zip(header, record.fields, strict=True)}
        out.record({name: row[column] for name, column in plan.fields.items()}, record.line)
    return _nonempty(out).result(plan.extras)


def _header(reader: Iterator[list[str]], lines: _Lines) -> list[str]:
    """The first non-blank record, stripped; duplicate names are ambiguous, so an error."""
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    except csv.Error as exc:
        raise CatalogError(
            f"catalog header (line {lines.first_line()}) is malformed: {exc}"
        ) from None
    if header is None:
        raise CatalogError("catalog is empty: no header line")
    header = [column.strip() for column in header]
    columns = [column for column in header if column]
    duplicate = next((column for column in columns if columns.count(column) > 1), None)
    if duplicate is not None:
        raise CatalogError(f"column {duplicate!r} appears twice in the catalog header; rename one")
    return header


class _CsvRecord(NamedTuple):
    line: int  # where the record starts
    first_text: str  # that line's text, to guess the sku of a broken record
    fields: list[str]
    problem: str | None


def _csv_records(reader: Iterator[list[str]], lines: _Lines, width: int) -> Iterator[_CsvRecord]:
    """One _CsvRecord per record, `problem` set when it is broken; blank lines are skipped.

    A record that breaks, or spans lines and has the wrong width (an unclosed quote), costs only
    its first line: the lines it swallowed are read again.
    """
    while True:
        lines.start_record()
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            lines.push_back_all_but_first()
            yield _CsvRecord(*lines.taken[0], [], _csv_problem(exc))
            continue
        if not any(cell.strip() for cell in fields):
            continue
        if len(fields) == width:
            yield _CsvRecord(*lines.taken[0], fields, None)
            continue
        problem = f"{len(fields)} fields where the header has {width}"
        if len(lines.taken) > 1:
            problem += f" (an unclosed quote here ran on to line {lines.taken[-1][0]})"
            lines.push_back_all_but_first()
        yield _CsvRecord(*lines.taken[0], fields, problem)


def _csv_problem(exc: csv.Error) -> str:
    """csv's own message, plus the likely cause when it is terse."""
    if "end of data" in str(exc):
        return f"malformed CSV: {exc} (a quote opened on this line is never closed)"
    return f"malformed CSV: {exc}"


def _guess_csv_sku(first_text: str, sku_index: int, delimiter: str) -> str | None:
    """Best-effort sku of a broken record: the sku column of its first line, parsed leniently."""
    row = next(csv.reader([first_text], delimiter=delimiter), [])
    value = row[sku_index].strip() if sku_index < len(row) else ""
    return value or None


# --- JSONL -----------------------------------------------------------------------------------


def _read_jsonl(lines: _Lines, mapping: dict[str, str]) -> CatalogRead:
    out, plans, seen_keys = _Collector(), {}, set()
    extras: dict[str, None] = {}
    sku_key = mapping.get("sku", "sku")
    for line, text in ((number, text) for number, text in _numbered(lines) if text.strip()):
        obj, problem = _json_object(text)
        if obj is None:
            out.unreadable(line, problem or "", _guess_json_sku(text, sku_key))
            continue
        flat, problems = _flatten(obj)
        seen_keys.update(flat)
        key = tuple(flat)
        if key not in plans:
            plans[key] = _plan_at(line, key, mapping)
            extras.update(dict.fromkeys(plans[key].extras))
        values = {name: flat[column] for name, column in plans[key].fields.items()}
        out.record(values, line, problems)
    _check_json_columns(list(plans.values()), seen_keys, mapping)
    return _nonempty(out).result(extras)


def _numbered(lines: _Lines) -> Iterator[tuple[int, str]]:
    while True:
        lines.start_record()
        text = next(lines, None)
        if text is None:
            return
        yield lines.first_line(), text


def _json_object(text: str) -> tuple[dict | None, str | None]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.colno}"
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


def _plan_at(line: int, columns: Sequence[str], mapping: dict[str, str]) -> _Plan:
    try:
        return _plan(columns, mapping, all_present=False)
    except CatalogError as exc:
        raise CatalogError(f"line {line}: {exc}") from None


def _check_json_columns(plans: list[_Plan], seen_keys: set[str], mapping: dict[str, str]) -> None:
    """Like a CSV header check, over all records: the sku field and every mapped key must occur."""
    if not plans:
        return  # no record parsed at all; each is already reported
    unused = [f"{name}={column}" for name, column in mapping.items() if column not in seen_keys]
    if unused:
        raise CatalogError(f"--map {unused[0]}: no catalog record has that field")
    if not any("sku" in plan.fields for plan in plans):
        raise CatalogError("catalog records have no 'sku' field; pass --map sku=<field>")


def _guess_json_sku(text: str, sku_key: str) -> str | None:
    """Best-effort sku of an unparseable JSON line."""
    pattern = rf'"{re.escape(sku_key)}"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d+))'
    match = re.search(pattern, text)
    if not match:
        return None
    return (match.group(1) if match.group(1) is not None else match.group(2)).strip() or None


# --- entry point -----------------------------------------------------------------------------


def read_catalog(
    path: Path, mapping: Mapping[str, str] | None = None, fmt: str | None = None
) -> CatalogRead:
    """Read and validate a whole catalog; row problems are in `.errors`, never raised."""
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"catalog not found: {path}")
    if path.is_dir():
        raise CatalogError(f"catalog {path} is a directory; pass the catalog file")
    kind = _format(path, fmt)
    fields = _checked(mapping)
    try:
        with path.open("rb") as stream:
            lines = _Lines(stream)
            if kind == "jsonl":
                return _read_jsonl(lines, fields)
            return _read_csv(lines, fields, "\t" if kind == "tsv" else ",")
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc.strerror or exc}") from None


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt.lower() not in _FORMATS:
            raise CatalogError(f"unknown catalog format {fmt!r}; use csv, tsv or jsonl")
        return _FORMATS[fmt.lower()]
    kind = _EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        raise CatalogError(
            f"cannot tell the format of {path.name!r} from its extension; use .csv, .tsv, "
            ".jsonl or .ndjson, or pass --format csv|jsonl"
        )
    return kind


def _nonempty(out: _Collector) -> _Collector:
    """A catalog without a single record is far likelier a broken export than an empty shop."""
    if out.rows == 0:
        raise CatalogError("catalog has no records; refusing to treat it as an empty catalog")
    return out
