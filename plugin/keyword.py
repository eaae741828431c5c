"""The BM25 clause: the shopper's words against title (twice as strong) and description.

The words go into `multi_match` (analysed text, no query syntax), so `OR`, quotes and `*`
are just words.
"""

from __future__ import annotations

from visearch.plugin.filters import Clause

KEYWORD_FIELDS = ("title^2", "description")


def keyword_clause(keywords: str) -> Clause:
    return {"multi_match": {"query": keywords, "fields": list(KEYWORD_FIELDS)}}
