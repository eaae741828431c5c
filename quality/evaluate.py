"""`visearch eval`: run labelled queries through the real search, and explain the misses.

Each query goes through `Searcher.search` (the path users hit). Beside it, an exact
brute-force ranking over every stored vector measures what ANN and filters cost, and the
stored attributes of the hits give the failure-mode diagnostics:

- colour bias: top hits that share the query product's colour but not its category;
- category collapse: how much the top hits pile into one category (purity), and how often
  that category is the wrong one;
- leakage: queries whose photo is (nearly) a catalog photo, which flatters every metric.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from opensearchpy import helpers

from visearch.mappings.fields import PHOTO_VECTOR, PHOTOS_FIELD
from visearch.plugin.params import SearchParams
from visearch.plugin.query_vector import embed_query, load_query_image
from visearch.plugin.search import Searcher
from visearch.quality.metrics import summarize
from visearch.quality.queries import EvalQuery
from visearch.vectors.keys import vector_key

KS = (1, 5, 10, 20)
NEAR_DUPLICATE = 0.98  # cosine above which a query photo counts as a catalog photo


@dataclass(frozen=True)
class CatalogVectors:
    """Every stored photo vector of the alias, with the product it belongs to."""

    skus: list[str]  # one per product
    vectors: np.ndarray  # one row per photo
    owner: np.ndarray  # photo row -> index into skus
    attributes: dict[str, dict[str, Any]]
    vector_keys: set[str]

    def exact_ranking(self, query: np.ndarray, k: int) -> tuple[list[str], float]:
        """Products by their best photo's cosine (brute force), and the best cosine."""
        per_photo = self.vectors @ query
        best = np.full(len(self.skus), -np.inf, dtype=np.float32)
        np.maximum.at(best, self.owner, per_photo)
        order = np.argsort(-best, kind="stable")[:k]
        return [self.skus[i] for i in order], float(best.max(initial=-1.0))


def load_catalog_vectors(client: Any, alias: str) -> CatalogVectors:
    fields = ["sku", PHOTOS_FIELD, "vector_key", "colour", "category", "article_type"]
    skus, rows, owner, attributes, keys = [], [], [], {}, set()
    for hit in helpers.scan(client, index=alias, query={"_source": fields}, size=500):
        source = hit["_source"]
        photos = source.pop(PHOTOS_FIELD, None) or []
        if not photos:
            continue
        for photo in photos:
            rows.append(photo[PHOTO_VECTOR])
            owner.append(len(skus))
        skus.append(hit["_id"])
        attributes[hit["_id"]] = source
        keys.add(source.get("vector_key"))
    vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return CatalogVectors(skus, vectors, np.asarray(owner, dtype=np.int64), attributes, keys)


@dataclass
class EvalReport:
    label: str
    queries: int
    metrics: dict[str, float]
    exact_metrics: dict[str, float]
    ann_exact_overlap_at_10: float
    by_group: dict[str, dict[str, float]]
    diagnostics: dict[str, Any]
    curve: list[float]  # Recall@1..k_max, for the plot
    failures: list[dict[str, Any]] = field(default_factory=list)

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
        }


def run_eval(
    searcher: Searcher,
    queries: Sequence[EvalQuery],
    *,
    label: str = "",
    k_max: int = 20,
    catalog: CatalogVectors | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalReport:
    """Evaluate `queries` against the searcher's alias; see the module docstring."""
    if searcher.encoder is None:
        raise ValueError("evaluation needs the encoder the index was built with")
    catalog = catalog or load_catalog_vectors(searcher.client, searcher.alias)
    ks = tuple(k for k in KS if k <= k_max)
    ann, exact, relevants, leaks = [], [], [], []
    for query in queries:
        image = load_query_image(query.image) if query.image else None
        vector = embed_query(searcher.encoder, image, query.text)
        params = SearchParams(image=image, text=query.text, k=k_max, candidates=max(k_max, 200))
        ann.append([hit.sku for hit in searcher.search(params).hits])
        ranking, best = catalog.exact_ranking(vector, k_max)
        exact.append(ranking)
        relevants.append(query.relevant)
        if query.image and _is_leak(query.image, best, searcher, catalog):
            leaks.append(query.query_id)
        if progress:
            progress(1)
    curve = [summarize(ann, relevants, [k])[f"recall@{k}"] for k in range(1, k_max + 1)]
    overlap = [
        len(set(a[:10]) & set(e[:10])) / max(1, len(e[:10]))
        for a, e in zip(ann, exact, strict=True)
    ]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, query in enumerate(queries):
        groups[query.group or _category(catalog, query.relevant[0])].append(i)
    by_group = {
        name: {
            "queries": len(idx),
            **summarize([ann[i] for i in idx], [relevants[i] for i in idx], ks),
        }
        for name, idx in sorted(groups.items())
    }
    return EvalReport(
        label=label,
        queries=len(queries),
        metrics=summarize(ann, relevants, ks),
        exact_metrics=summarize(exact, relevants, ks),
        ann_exact_overlap_at_10=float(np.mean(overlap)) if overlap else 0.0,
        by_group=by_group,
        diagnostics=_diagnostics(ann, relevants, catalog, leaks, len(queries)),
        curve=curve,
        failures=[
            {"query_id": q.query_id, "relevant": list(q.relevant), "top5": a[:5]}
            for q, a in zip(queries, ann, strict=True)
            if not set(q.relevant) & set(a[:1])
        ],
    )


def _category(catalog: CatalogVectors, sku: str) -> str:
    return _cat(catalog.attributes.get(sku, {}))


def _is_leak(image_ref: str, best: float, searcher: Searcher, catalog: CatalogVectors) -> bool:
    """Byte-identical to a catalog photo (same vector key), or a near-duplicate of one."""
    if best >= NEAR_DUPLICATE:
        return True
    if "://" in image_ref:
        return False
    with open(image_ref, "rb") as handle:
        data = handle.read()
    return vector_key([data], searcher.encoder.name) in catalog.vector_keys


def _diagnostics(
    ann: list[list[str]],
    relevants: list[Sequence[str]],
    catalog: CatalogVectors,
    leaks: list[str],
    n: int,
    top: int = 10,
) -> dict[str, Any]:
    colour_bias, purity, wrong_collapse = [], [], 0
    for ranked, relevant in zip(ann, relevants, strict=True):
        wanted = catalog.attributes.get(relevant[0], {})
        hits = [catalog.attributes.get(sku, {}) for sku in ranked[:top]]
        if not hits:
            continue
        colour, category = wanted.get("colour"), _category(catalog, relevant[0])
        if colour:
            biased = [h for h in hits if h.get("colour") == colour and _cat(h) != category]
            colour_bias.append(len(biased) / len(hits))
        counts = Counter(_cat(h) for h in hits)
        top_category, top_count = counts.most_common(1)[0]
        purity.append(top_count / len(hits))
        if top_count == len(hits) and top_category != category:
            wrong_collapse += 1
    return {
        "colour_bias": {
            "mean_share_same_colour_other_category_top10": _mean(colour_bias),
            "queries_with_colour": len(colour_bias),
        },
        "category_collapse": {
            "mean_top10_category_purity": _mean(purity),
            "queries_top10_all_one_wrong_category": wrong_collapse,
        },
        "leakage": {
            "queries_matching_a_catalog_photo": len(leaks),
            "share": len(leaks) / n if n else 0.0,
            "examples": leaks[:10],
        },
    }


def _cat(source: dict[str, Any]) -> str:
    return str(source.get("article_type") or source.get("category") or "unknown")


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0
