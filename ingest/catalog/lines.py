"""A catalog file's physical lines, numbered, decoded one at a time (nothing is read ahead).

A line that is not UTF-8 is decoded with replacement characters and remembered, so the record
holding it fails alone and the rest of the catalog is read. Lines can be pushed back, so a
broken record that swallowed the lines after it costs only its own first line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO


class Lines:
    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._pending: list[tuple[int, str]] = []  # pushed back; the last one comes next
        self._next_number = 1
        self._undecodable: dict[int, str] = {}  # line -> why it is not text
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
            item = (self._next_number, self._decode(raw, self._next_number))
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

    def encoding_problem(self) -> str | None:
        """Why a line of the current record is not text, or None."""
        for number, _ in self.taken:
            if (reason := self._undecodable.get(number)) is not None:
                return reason
        return None

    def _decode(self, raw: bytes, number: int) -> str:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._undecodable[number] = (
                f"line {number} is not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                "save the catalog as UTF-8"
            )
            text = raw.decode("utf-8", errors="replace")
        return text.removeprefix("\ufeff") if number == 1 else text
