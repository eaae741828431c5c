"""Attribute values as shoppers type them: folded for comparison, and the closest known ones.

The index's `folded` normaliser (mappings/products.json) lower-cases and strips accents;
`fold` does the same here, so filters, keywords and facet selections compare values the way
the index does.
"""

from __future__ import annotations

import difflib
import functools
import unicodedata
from collections.abc import Iterable

CLOSE_ENOUGH = 0.6  # difflib ratio: "nikey" -> "Nike", "blu" -> "Blue"
MAX_SUGGESTIONS = 3


@functools.lru_cache(maxsize=1 << 14)
def fold(text: str) -> str:
    """Lower case, accents off. Cached: every answer folds each facet bucket's value (about
    140 a photo query with four facets), and a catalog has few distinct values."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def closest(value: str, known: Iterable[str], n: int = MAX_SUGGESTIONS) -> list[str]:
    """The known values nearest to `value` in spelling (stored spelling, best first); a
    value that differs only in case or accents comes first."""
    by_folded: dict[str, str] = {}
    for item in known:
        by_folded.setdefault(fold(item), item)
    wanted = fold(value)
    if wanted in by_folded:
        return [by_folded[wanted]]
    near = difflib.get_close_matches(wanted, list(by_folded), n=n, cutoff=CLOSE_ENOUGH)
    contained = [k for k in by_folded if wanted and (wanted in k or k in wanted) and k not in near]
    return [by_folded[k] for k in [*near, *sorted(contained, key=len)]][:n]
