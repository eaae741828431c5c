"""Errors an ingest run raises; each carries its data, and the entry point says how to fix it.

Row-level problems are never raised: they become RowErrors in the summary. These are the
run-level ones, after which nothing is deleted and no alias moves.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class of the run-level errors of `visearch.ingest`."""


class EncoderMismatchError(IngestError):
    """The live index holds vectors of another encoder: the two cannot be mixed."""

    def __init__(self, index: str, recorded: str, given: str) -> None:
        self.index, self.recorded, self.given = index, recorded, given
        super().__init__(
            f"index {index} was built with encoder {recorded!r} but this run uses {given!r}; "
            "vectors from different encoders cannot be mixed in one index"
        )


class ConcreteIndexError(IngestError):
    """The alias name is taken by a concrete index, so no alias can have it."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"{name!r} is a concrete index, not an alias; visearch needs an alias")


class SplitAliasError(IngestError):
    """The alias points to several indices: readers would see every product more than once."""

    def __init__(self, alias: str, indices: list[str]) -> None:
        self.alias, self.indices = alias, indices
        super().__init__(f"alias {alias!r} points to several indices: {', '.join(indices)}")
