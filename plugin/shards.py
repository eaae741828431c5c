"""Results that do not depend on the shard layout: per-shard k, a global cut, facets over the
global pool (plugin/README.md, "Several shards").

On an index with several shards the lucene kNN query returns its k = N best products *per
shard*: the hits are cut to the N best overall, but the total, the facet counts and the
post-filtered hits see up to N per shard. So on a sharded index every kNN search of a plan is
sent in two steps, each one `_msearch` for the whole plan:

1. **pool**: the same kNN query (and `min_score`), sorted by score then sku, size N, reading
   only the sku: each shard returns its N best, the coordinating node keeps the N best of
   all, which is exactly the pool a one-shard index returns (ties at the N-th score go to
   the smaller sku);
2. **over the pool**: the original body (selections as `post_filter`, facet aggregations,
   hit fields) with its query replaced by `terms: {sku: <the pool>}`: hits, total and counts
   over exactly the pool. Each hit gets its kNN score from step 1 back, so what the rest of
   the plugin sees is shaped like the one-request answer. A plan that fetches only its pages
   (`page_only`) gets them sorted by their place in the pool, the rest of the pool unread.

Keyword scores (BM25, `term` idf) use per-shard term statistics unless the search runs
`dfs_query_then_fetch`, which first gathers the statistics of every shard; keyword searches
always say so (on one shard OpenSearch skips the extra round). Facet `terms` get a large
`shard_size` on a sharded index, so each shard reports all its values rather than its top few.

A `Searcher` does not know the layout of its alias until a response says how many shards
answered (`_shards.total`); the first search that shows several is sent again this way, and
every later one is sent this way at once (`ShardLayout`).

A plan marked `exact_alone` needs no pool step: Elasticsearch's top-level `knn` (what a look
search without words becomes there) keeps the global k before the query phase, so its hits,
total and facets already see exactly the pool; it goes out in one request, with the facets'
large `shard_size`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Body = dict[str, Any]
Response = Mapping[str, Any]
SendLines = Callable[[list[Body]], tuple[list[Response], float]]

DFS = {"search_type": "dfs_query_then_fetch"}
SHARD_SIZE = 10_000
"""Facet values each shard reports: past it, counts of rare values may be low by a little."""
SCORE_THEN_SKU = [{"_score": {"order": "desc"}}, {"sku": {"order": "asc"}}]


@dataclass
class ShardLayout:
    """The shard count the alias's last response reported (None before the first)."""

    shards: int | None = None

    @property
    def sharded(self) -> bool:
        return (self.shards or 1) > 1

    def learn(self, responses: Sequence[Response]) -> bool:
        """Record the shard count in `responses`; True when it newly shows several shards."""
        totals = [int(r["_shards"]["total"]) for r in responses if r.get("_shards")]
        if not totals:
            return False
        was = self.sharded
        self.shards = max(totals)
        return self.sharded and not was


def search_type(mode: str) -> dict[str, str]:
    """Query parameters of a plan's searches: keyword scores from every shard's statistics."""
    return dict(DFS) if mode == "keywords" else {}


def is_pool(body: Body) -> bool:
    """A kNN search whose hits are a pool of N (the query is the nested knn clause)."""
    query = body.get("query") or {}
    return "knn" in query or "knn" in (query.get("nested") or {}).get("query", {})


def pool_body(body: Body, n: int) -> Body:
    """Step 1: the global N best of the kNN query, by score then sku; only the sku is read.
    N is the plan's pool: a body that asks for one page only has a smaller size, and a
    quantized index's knn a larger k."""
    out: Body = {
        "size": n,
        "query": body["query"],
        "sort": SCORE_THEN_SKU,  # starts with _score: hits carry it without track_scores
        "stored_fields": "_none_",
        "docvalue_fields": ["sku"],
    }
    if "min_score" in body:
        out["min_score"] = body["min_score"]
    return out


def over_pool_body(body: Body, skus: Sequence[str], page_only: bool = False) -> Body:
    """Step 2: `body` over exactly the pool `skus` (its selections, facets, hit fields).
    Every pool product comes back, unless `page_only`: then only the body's pages, in pool
    order (step 1's), so a look search fetches 10 products rather than all N."""
    dropped = ("query", "min_score", "sort")
    out = exact_counts({k: v for k, v in body.items() if k not in dropped})
    out["query"] = {"bool": {"filter": [{"terms": {"sku": list(skus)}}]}}
    out["track_total_hits"] = True
    if page_only:
        out["sort"] = [pool_order(skus)]
    else:
        out["size"] = len(skus)
    return out


def pool_order(skus: Sequence[str]) -> Body:
    """A sort by each product's place in the pool (the terms filter scores them all alike)."""
    rank = {sku: at for at, sku in enumerate(skus)}
    script = {"source": "params.rank[doc['sku'].value]", "params": {"rank": rank}}
    return {"_script": {"type": "number", "order": "asc", "script": script}}


def exact_counts(body: Body) -> Body:
    """A copy of `body` whose facet `terms` aggregations ask every shard for all its values."""
    out = copy.deepcopy(body)
    stack = [out.get("aggs") or {}]
    while stack:
        for agg in stack.pop().values():
            if isinstance(agg.get("terms"), dict) and "include" not in agg["terms"]:
                size = int(agg["terms"].get("size", 10))
                agg["terms"]["shard_size"] = max(size, SHARD_SIZE)
            stack.append(agg.get("aggs") or {})
    return out


def send_plans(
    plans: Sequence[Any], send_lines: SendLines, layout: ShardLayout
) -> tuple[list[list[Response]], float]:
    """Each plan's responses, in as few `_msearch` requests as the layout allows: one when
    the alias has one shard; on a sharded one, two (the pools, then everything over them),
    after a first request that showed the layout, if it was not known yet."""
    if not layout.sharded and not any(plan.widened for plan in plans):
        lines = [line for plan in plans for line in _lines(plan, plan.searches)]
        responses, took = send_lines(lines)
        if not (layout.learn(responses) and any(_needs_exact(plan) for plan in plans)):
            return _split(plans, responses), took
    return _send_exact(plans, send_lines)


def _send_exact(plans: Sequence[Any], send_lines: SendLines) -> tuple[list[list[Response]], float]:
    first: list[Body] = []
    stepped: list[bool] = []  # per search: its pool is cut in two steps
    for plan in plans:
        steps = [is_pool(b) and not plan.exact_alone for b in plan.searches]
        bodies = [pool_body(b, plan.pool) if step else exact_counts(b)
                  for b, step in zip(plan.searches, steps, strict=True)]  # fmt: skip
        first.extend(_lines(plan, bodies))
        stepped.extend(steps)
    responses, took = send_lines(first)
    pools = {}
    second: list[Body] = []
    searches = [(plan, body) for plan in plans for body in plan.searches]
    for i, (plan, body) in enumerate(searches):
        if stepped[i]:
            pools[i] = _scores(responses[i])
            second.extend(({}, over_pool_body(body, list(pools[i]), plan.page_only)))
    if not pools:
        return _split(plans, responses), took
    over, took_over = send_lines(second)
    merged = list(responses)
    for at, i in enumerate(pools):
        merged[i] = with_pool_scores(over[at], pools[i])
    return _split(plans, merged), took + took_over


def _needs_exact(plan: Any) -> bool:
    return any(is_pool(body) or body.get("aggs") for body in plan.searches)


def _lines(plan: Any, bodies: Sequence[Body]) -> list[Body]:
    header = search_type(plan.mode)
    return [line for body in bodies for line in (dict(header), body)]


def _split(plans: Sequence[Any], responses: Sequence[Response]) -> list[list[Response]]:
    out, at = [], 0
    for plan in plans:
        out.append(list(responses[at : at + len(plan.searches)]))
        at += len(plan.searches)
    return out


def _sku(hit: Mapping[str, Any]) -> str:
    return str(hit["fields"]["sku"][0])


def _scores(response: Response) -> dict[str, float]:
    """sku -> kNN score of the pool, in pool order."""
    return {_sku(hit): float(hit["_score"]) for hit in response["hits"]["hits"]}


def with_pool_scores(response: Response, scores: Mapping[str, float]) -> dict[str, Any]:
    """The over-pool response shaped like a kNN response: each hit carries its kNN score,
    hits ordered by score then sku."""
    hits = [{**hit, "_score": scores[_sku(hit)]} for hit in response["hits"]["hits"]]
    hits.sort(key=lambda hit: (-hit["_score"], _sku(hit)))
    best = hits[0]["_score"] if hits else None
    return {**response, "hits": {**response["hits"], "hits": hits, "max_score": best}}
