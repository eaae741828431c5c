"""The one error a catalog as a whole can raise: it carries what went wrong as data."""

from __future__ import annotations

from typing import Any


class CatalogError(Exception):
    """The catalog as a whole cannot be used.

    `problem` names the case (`missing_column`, `unknown_format`, ...) and `details` holds its
    data (the field, the column, the columns the catalog has), so an entry point can say how to
    fix it in its own terms (the CLI names its flags). The message says what is wrong.
    """

    def __init__(self, message: str, problem: str, **details: Any) -> None:
        super().__init__(message)
        self.problem = problem
        self.details = details
