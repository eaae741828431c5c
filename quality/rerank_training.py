"""`visearch tune --reranker`: learn the re-ranker (plugin/rerank.py) from labelled queries.

Every query runs through the real search (batched, like eval) with the top N and their
explanations kept; the features are the ones the re-ranker computes at query time, from the
same hits. A listwise model (softmax over each query's top N, the relevant products as the
target) is fitted by gradient descent on standardised features with a little L2.

Honest figures: Recall@1 with and without the model is measured by k-fold cross-validation
over the queries (each query scored by a model that never saw it). Leakage guard: a query
whose best hit is a near-duplicate of a catalog photo (cosine >= LEAK_COSINE) is the catalog
photo itself and teaches nothing about shoppers' photos; it is left out and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from visearch.plugin.params import SearchParams
from visearch.plugin.rerank import FEATURES, TOP_N, Reranker, feature_rows
from visearch.plugin.search import Searcher
from visearch.quality.evaluate import embed_queries, read_query
from visearch.quality.queries import EvalQuery

LEAK_COSINE = 0.98
FOLDS = 5
MIN_QUERIES = 20


class RerankTrainingError(ValueError):
    """Too few usable queries, or an index the re-ranker cannot use."""


@dataclass(frozen=True)
class QueryList:
    """One query's top N: feature rows in search order, and which rows are relevant."""

    rows: np.ndarray
    relevant: np.ndarray


def collect(
    searcher: Searcher,
    queries: Sequence[EvalQuery],
    *,
    top_n: int = TOP_N,
    batch: int = 32,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[QueryList], int]:
    """Each query's top N through the real search (without a re-ranker), and how many queries
    were left out as near-duplicates of catalog photos."""
    plain = searcher.with_reranker(None)
    if plain.encoder is None:
        raise RerankTrainingError("training the re-ranker needs the index's encoder")
    lists, leaked = [], 0
    with ThreadPoolExecutor(4, thread_name_prefix="rerank-read") as pool:
        for start in range(0, len(queries), batch):
            chunk = queries[start : start + batch]
            photos = [image for image, _ in pool.map(read_query, chunk)]
            vectors = embed_queries(plain.encoder, chunk, photos)
            items = [
                (SearchParams(image=image, text=q.text, k=top_n, candidates=max(top_n, 200)), v)
                for q, image, v in zip(chunk, photos, vectors, strict=True)
            ]
            for query, result in zip(chunk, plain.search_batch(items), strict=True):
                why = [hit.explanation for hit in result.hits]
                if why and (why[0].similarity or 0.0) >= LEAK_COSINE:
                    leaked += 1
                    continue
                relevant = np.array([hit.sku in query.relevant for hit in result.hits])
                lists.append(QueryList(feature_rows(why), relevant))
            if progress is not None:
                progress(len(chunk))
    return lists, leaked


def fit(
    lists: Sequence[QueryList], encoder: str, *, epochs: int = 400, rate: float = 0.5
) -> Reranker:
    """The listwise linear model; it starts from "best photo first", today's order."""
    usable = [q for q in lists if q.relevant.any()]
    rows = np.concatenate([q.rows for q in usable])
    # A feature constant in training (no words in image queries) keeps weight 0 and scale 1,
    # so it cannot blow up at query time.
    mean, spread = rows.mean(0), rows.std(0)
    scale = np.where(spread > 1e-6, spread, 1.0)
    weights = np.zeros(len(FEATURES))
    weights[FEATURES.index("look")] = 1.0
    for _ in range(epochs):
        grad = np.zeros_like(weights)
        for q in usable:
            z = (q.rows - mean) / scale
            s = z @ weights
            p = np.exp(s - s.max())
            p /= p.sum()
            grad += z.T @ (p - q.relevant / q.relevant.sum())
        weights -= rate * (grad / len(usable) + 1e-3 * weights)
    return Reranker(encoder, tuple(map(float, weights)), tuple(map(float, mean)),
                    tuple(map(float, scale)))  # fmt: skip


def recall_at_1(lists: Sequence[QueryList], reranker: Reranker | None) -> float:
    """Share of queries whose first result is relevant (in search order without a model)."""
    if not lists:
        return 0.0
    hits = 0
    for q in lists:
        if len(q.rows) == 0:
            continue
        first = 0 if reranker is None else int(np.argmax(reranker.scores(q.rows)))
        hits += bool(q.relevant[first])
    return hits / len(lists)


def train(
    lists: Sequence[QueryList], encoder: str, *, folds: int = FOLDS, seed: int = 0
) -> tuple[Reranker, dict[str, float | int]]:
    """The model fitted on every list, and its cross-validated Recall@1 beside today's."""
    usable = sum(bool(q.relevant.any()) for q in lists)
    if usable < MIN_QUERIES:
        raise RerankTrainingError(
            f"only {usable} queries have a relevant product in their top results; the "
            f"re-ranker needs at least {MIN_QUERIES}"
        )
    fold_of = np.random.default_rng(seed).permutation(len(lists)) % folds
    scored = []
    for fold in range(folds):
        model = fit([q for q, f in zip(lists, fold_of, strict=True) if f != fold], encoder)
        held = [q for q, f in zip(lists, fold_of, strict=True) if f == fold]
        scored.append((len(held), recall_at_1(held, model)))
    with_model = sum(n * r for n, r in scored) / len(lists)
    metrics: dict[str, float | int] = {
        "queries": len(lists),
        "queries_with_relevant_in_top_n": usable,
        "cv_folds": folds,
        "cv_recall_at_1_without": round(recall_at_1(lists, None), 4),
        "cv_recall_at_1_with": round(with_model, 4),
    }
    return fit(lists, encoder), metrics
