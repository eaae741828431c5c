"""Hand memory freed by large image decodes back to the system.

glibc keeps freed memory in its arenas (one per thread that allocated): after a burst of
large uploads the process would stay gigabytes big although nothing is in use. When the last
image job of a burst ends, `malloc_trim(0)` returns the free pages. Elsewhere (another libc,
another OS) this does nothing.

Only after a burst that held TRIM_AFTER_PIXELS at once: ordinary photos leave little to return,
and a trim after each of them (at low concurrency, every request) cost about 1 ms of CPU a
request, mostly in page faults as the next request took the returned pages back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

TRIM_AFTER_PIXELS = 4_000_000
"""About 12 MB of decoded RGB: smaller bursts leave the heap about as it was."""


@cache
def _malloc_trim() -> object | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def trim_heap() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)  # type: ignore[operator]
