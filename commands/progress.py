"""Progress for long commands: a bar on a terminal, a line every `every_s` seconds otherwise
(cron logs, CI), always on stderr so `--json` output stays clean."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click


@contextmanager
def progress(
    total: int | None, unit: str, label: str, *, plural: str = "", every_s: float = 15.0
) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; shows `label` with n of `total` units (`plural`: default unit+s)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, unit=unit, desc=label, dynamic_ncols=True, file=sys.stderr)
        try:
            yield bar.update
        finally:
            bar.close()
        return
    started = last = time.monotonic()
    done = 0

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= every_s or (total is not None and done >= total):
            last = now
            of = f"/{total}" if total is not None else ""
            click.echo(
                f"{label}: {done}{of} {plural or unit + 's'}, {now - started:.0f} s", err=True
            )

    yield advance


def note(message: str) -> None:
    """One line on stderr: what a slow step is doing (loading a model, reading a catalog)."""
    click.echo(message, err=True)
