"""CSV and TSV catalogs: the header is checked at once, records are read one at a time."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import NamedTuple

from visearch.ingest.catalog.columns import ColumnPlan, plan_columns
from visearch.ingest.catalog.errors import CatalogError
from visearch.ingest.catalog.lines import Lines
from visearch.ingest.catalog.records import RecordChecker
from visearch.ingest.records import Product, RowError


class CsvCatalog:
    """A CSV whose header is read and planned; iterate `records(checker)` for the rest."""

    def __init__(self, lines: Lines, mapping: dict[str, str], delimiter: str) -> None:
        self._lines = lines
        self._delimiter = delimiter
        self._reader = csv.reader(lines, delimiter=delimiter, strict=True)
        self._header = _header(self._reader, lines)
        columns = [column for column in self._header if column]
        self.plan: ColumnPlan = plan_columns(columns, mapping, all_present=True)
        for required in ("sku", "image"):
            if required not in self.plan.fields:
                raise CatalogError(
                    f"catalog has no {required!r} column (columns: {', '.join(columns)})",
                    "missing_column",
                    field=required,
                    columns=columns,
                )

    @property
    def extras(self) -> tuple[str, ...]:
        return self.plan.extras

    def records(self, checker: RecordChecker) -> Iterator[Product | RowError]:
        header, fields = self._header, self.plan.fields
        sku_index = header.index(fields["sku"])
        for record in _csv_records(self._reader, self._lines, len(header)):
            problem = record.problem or self._lines.encoding_problem()
            if problem is not None:
                sku_guess = _guess_sku(record.first_text, sku_index, self._delimiter)
                yield checker.unreadable(record.line, problem, sku_guess)
                continue
            row = {
                column: value.strip() for column, value in zip(header, record.fields, strict=True)
            }
            yield checker.check({name: row[column] for name, column in fields.items()}, record.line)


def _header(reader: Iterator[list[str]], lines: Lines) -> list[str]:
    """The first non-blank record, stripped; duplicate names are ambiguous, so an error."""
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    except csv.Error as exc:
        message = f"catalog header (line {lines.first_line()}) is malformed: {exc}"
        raise CatalogError(message, "bad_header") from None
    if header is None:
        raise CatalogError("catalog is empty: no header line", "empty")
    if problem := lines.encoding_problem():
        raise CatalogError(f"catalog header: {problem}", "bad_header")
    header = [column.strip() for column in header]
    columns = [column for column in header if column]
    duplicate = next((column for column in columns if columns.count(column) > 1), None)
    if duplicate is not None:
        message = f"column {duplicate!r} appears twice in the catalog header; rename one"
        raise CatalogError(message, "duplicate_column", column=duplicate)
    return header


class _CsvRecord(NamedTuple):
    line: int  # where the record starts
    first_text: str  # that line's text, to guess the sku of a broken record
    fields: list[str]
    problem: str | None


def _csv_records(reader: Iterator[list[str]], lines: Lines, width: int) -> Iterator[_CsvRecord]:
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


def _guess_sku(first_text: str, sku_index: int, delimiter: str) -> str | None:
    """Best-effort sku of a broken record: the sku column of its first line, parsed leniently."""
    row = next(csv.reader([first_text], delimiter=delimiter), [])
    value = row[sku_index].strip() if sku_index < len(row) else ""
    return value or None
