"""`visearch eval`: run labelled queries through the real search, and show where it fails.

Queries go through the real request path in batches: photos are read and decoded in a thread
pool, encoded a batch at a time, and searched in one `_msearch` per batch (`Searcher.
search_batch`); each query is embedded once, and the same vector feeds an exact brute-force
ranking over every stored vector, which measures what ANN and filters cost. The stored
attributes of the hits give the diagnostics (quality/diagnostics.py), the photos the leakage
check (quality/leakage.py); categories are listed worst first, and the failing queries with
their top hits.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visearch.plugin.params import SearchParams
from visearch.plugin.query_vector import check_encoder
from visearch.plugin.search import Searcher
from visearch.quality.catalog_vectors import CatalogVectors, load_catalog_vectors
from visearch.quality.diagnostics import Leak, category, diagnostics
from visearch.quality.leakage import LeakageCheck
from visearch.quality.metrics import summarize
from visearch.quality.queries import EvalQuery
from visearch.vectors.images import decode_image, read_image_bytes
from visearch.vectors.keys import photo_digest

KS = (1, 5, 10, 20)


@dataclass
class EvalReport:
    label: str
    queries: int
    metrics: dict[str, float]
    exact_metrics: dict[str, float]
    ann_exact_overlap_at_10: float
    by_group: dict[str, dict[str, float]]  # worst recall@1 first
    diagnostics: dict[str, Any]
    curve: list[float]  # Recall@1..k_max, for the plot
    failures: list[dict[str, Any]] = field(default_factory=list)  # worst first
    seconds: dict[str, float] = field(default_factory=dict)  # read, encode, search, exact

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "queries": self.queries,
            "metrics": self.metrics,
            "exact_metrics": self.exact_metrics,
            "ann_exact_overlap_at_10": self.ann_exact_overlap_at_10,
            "by_group": self.by_group,
            "diagnostics": self.diagnostics,
            "recall_curve": self.curve,
            "failures": self.failures,
            "seconds": self.seconds,
        }


@dataclass
class _Runs:
    """What the batches produced, query by query."""

    ann: list[list[str]] = field(default_factory=list)
    exact: list[list[str]] = field(default_factory=list)
    top_hits: list[list[dict[str, Any]]] = field(default_factory=list)
    leaks: list[Leak] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def run_eval(
    searcher: Searcher,
    queries: Sequence[EvalQuery],
    *,
    label: str = "",
    k_max: int = 20,
    catalog: CatalogVectors | None = None,
    images_base: Path | None = None,
    progress: Callable[[int], None] | None = None,
    batch: int = 32,
) -> EvalReport:
    """Evaluate `queries` against the searcher's alias; see the module docstring."""
    if searcher.encoder is None:
        raise ValueError("evaluation needs the encoder the index was built with")
    probe = SearchParams(text="x") if all(q.text for q in queries) else SearchParams(image="x")
    check_encoder(probe, searcher.schema, searcher.encoder)  # its vectors compare with the index's
    started = time.perf_counter()
    catalog = catalog or load_catalog_vectors(searcher.client, searcher.alias)
    leakage = LeakageCheck(searcher.encoder, catalog, images_base)
    runs = _Runs()
    with ThreadPoolExecutor(4, thread_name_prefix="eval-read") as pool:
        for start in range(0, len(queries), batch):
            chunk = queries[start : start + batch]
            _run_batch(searcher, chunk, k_max, catalog, leakage, pool, runs)
            if progress is not None:
                progress(len(chunk))
    runs.seconds["total"] = time.perf_counter() - started
    return _report(label, queries, k_max, catalog, leakage, runs)


def _run_batch(
    searcher: Searcher,
    chunk: Sequence[EvalQuery],
    k_max: int,
    catalog: CatalogVectors,
    leakage: LeakageCheck,
    pool: ThreadPoolExecutor,
    runs: _Runs,
) -> None:
    clock = time.perf_counter
    started = clock()
    photos = list(pool.map(read_query, chunk))
    runs.seconds["read"] += clock() - started
    started = clock()
    vectors = embed_queries(searcher.encoder, chunk, [image for image, _ in photos])
    runs.seconds["encode"] += clock() - started
    started = clock()
    candidates = max(k_max, 200)
    items = [
        (SearchParams(image=image, text=query.text, k=k_max, candidates=candidates), vector)
        for query, (image, _), vector in zip(chunk, photos, vectors, strict=True)
    ]
    results = searcher.search_batch(items)
    runs.seconds["search"] += clock() - started
    started = clock()
    for query, (image, digest), vector, result in zip(chunk, photos, vectors, results, strict=True):
        runs.ann.append([hit.sku for hit in result.hits])
        runs.top_hits.append([_hit(hit) for hit in result.hits[:5]])
        ranking, best = catalog.exact_ranking(vector, k_max)
        runs.exact.append(ranking)
        if (leak := leakage.check(query.query_id, digest, image, best)) is not None:
            runs.leaks.append(leak)
    runs.seconds["exact"] += clock() - started


def read_query(query: EvalQuery) -> tuple[Any, str | None]:
    """The query's decoded photo and its bytes' digest (None, None for a text query)."""
    if not query.image:
        return None, None
    data = read_image_bytes(query.image)
    return decode_image(data, query.image), photo_digest(data)


def embed_queries(encoder: Any, chunk: Sequence[EvalQuery], images: list[Any]) -> np.ndarray:
    """One vector per query: the photos in one model call, the texts in another."""
    vectors = np.zeros((len(chunk), encoder.dim), dtype=np.float32)
    with_image = [i for i, image in enumerate(images) if image is not None]
    if with_image:
        vectors[with_image] = encoder.embed_images([images[i] for i in with_image])
    with_text = [i for i, query in enumerate(chunk) if images[i] is None and query.text]
    if with_text:
        vectors[with_text] = encoder.embed_texts([chunk[i].text for i in with_text])
    return vectors


def _hit(hit: Any) -> dict[str, Any]:
    return {
        "sku": hit.sku,
        "title": hit.title,
        "image": hit.image,
        "similarity": hit.explanation.similarity,
    }


def _report(
    label: str,
    queries: Sequence[EvalQuery],
    k_max: int,
    catalog: CatalogVectors,
    leakage: LeakageCheck,
    runs: _Runs,
) -> EvalReport:
    ks = tuple(k for k in KS if k <= k_max)
    relevants = [query.relevant for query in queries]
    curve = [summarize(runs.ann, relevants, [k])[f"recall@{k}"] for k in range(1, k_max + 1)]
    overlap = [
        len(set(a[:10]) & set(e[:10])) / max(1, len(e[:10]))
        for a, e in zip(runs.ann, runs.exact, strict=True)
    ]
    return EvalReport(
        label=label,
        queries=len(queries),
        metrics=summarize(runs.ann, relevants, ks),
        exact_metrics=summarize(runs.exact, relevants, ks),
        ann_exact_overlap_at_10=float(np.mean(overlap)) if overlap else 0.0,
        by_group=_by_group(queries, runs.ann, catalog, ks),
        diagnostics=diagnostics(runs.ann, relevants, catalog, runs.leaks, leakage.rules),
        curve=curve,
        failures=_failures(queries, runs),
        seconds={name: round(value, 3) for name, value in runs.seconds.items()},
    )


def _by_group(
    queries: Sequence[EvalQuery],
    ann: list[list[str]],
    catalog: CatalogVectors,
    ks: Sequence[int],
) -> dict[str, dict[str, float]]:
    """Recall per category (the queries file's group, else the product's), worst first."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, query in enumerate(queries):
        groups[query.group or category(catalog.attributes.get(query.relevant[0], {}))].append(i)
    rows = {
        name: {
            "queries": len(idx),
            **summarize([ann[i] for i in idx], [queries[i].relevant for i in idx], ks),
        }
        for name, idx in groups.items()
    }
    order = sorted(rows, key=lambda name: (rows[name]["recall@1"], -rows[name]["queries"], name))
    return {name: rows[name] for name in order}


def _failures(queries: Sequence[EvalQuery], runs: _Runs) -> list[dict[str, Any]]:
    """Queries whose first hit is wrong, the ones whose right answer ranks lowest first."""
    failed = []
    for query, ranked, hits in zip(queries, runs.ann, runs.top_hits, strict=True):
        if set(query.relevant) & set(ranked[:1]):
            continue
        rank = next((r for r, sku in enumerate(ranked, 1) if sku in query.relevant), None)
        failed.append(
            {
                "query_id": query.query_id,
                "image": query.image,
                "text": query.text,
                "relevant": list(query.relevant),
                "rank_of_relevant": rank,
                "top5": hits,
            }
        )
    return sorted(failed, key=lambda f: (f["rank_of_relevant"] is not None,
                                         -(f["rank_of_relevant"] or 0)))  # fmt: skip
