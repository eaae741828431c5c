"""The optional re-ranking stage: a learned linear model over the top N of a look search.

The nested kNN scores a product by its single best photo. A shopper's photo of a product
with many photos (different angles, lighting, packaging) is better judged against all of
them: the re-ranker adds each product's *overall look*, the cosine to the normalised mean of
its photo vectors (`photo_centroid`, stored by ingest and read back as a script field of the
same request), and weighs it against the best photo, the gaps to the query's best, the rank
and the word match. On grocery, several photos per product, it raises Recall@1 from 0.52 to
about 0.61 (bench/reranker.py); with one photo per product it has nothing to add.

The model is trained by `visearch tune --reranker` from labelled queries through the real
search, stored as JSON beside its encoder's name, and used only when given (`--reranker`,
VISEARCH_RERANKER). It permutes the top N and nothing else: the i-th best by the model takes
the i-th best fused score, so business boosts and the tail keep their scale.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from visearch.plugin.response import Explanation
from visearch.plugin.schema import IndexSchema

FEATURES = ("look", "overall_look", "look_gap", "overall_look_gap", "log_rank", "words")
TOP_N = 100
FORMAT = "visearch-reranker"
FILE_NAME = "reranker.json"


class RerankerError(ValueError):
    """A re-ranker that cannot be used: unreadable, or made for another encoder."""


def feature_rows(explanations: Sequence[Explanation]) -> np.ndarray:
    """One row of FEATURES per candidate, in the given (fused) order."""
    looks = [e.similarity if e.similarity is not None else 0.0 for e in explanations]
    overall = [
        e.centroid_similarity if e.centroid_similarity is not None else look
        for e, look in zip(explanations, looks, strict=True)
    ]
    best_look, best_overall = max(looks, default=0.0), max(overall, default=0.0)
    rows = [
        (
            look,
            whole,
            look - best_look,
            whole - best_overall,
            math.log1p(rank),
            1.0 if e.keyword_match else 0.0,
        )  # fmt: skip
        for rank, (e, look, whole) in enumerate(zip(explanations, looks, overall, strict=True))
    ]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))


@dataclass(frozen=True)
class Reranker:
    """Linear weights over standardised FEATURES, tied to the encoder that made the vectors."""

    encoder: str
    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    top_n: int = TOP_N
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def scores(self, rows: np.ndarray) -> np.ndarray:
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        return z @ np.asarray(self.weights)

    def check_index(self, schema: IndexSchema) -> None:
        """RerankerError unless the index was built with this model's encoder and stores the
        products' photo centroids (mapping version 6)."""
        if schema.encoder != self.encoder:
            raise RerankerError(
                f"the re-ranker was trained on an index built with {self.encoder!r}, "
                f"{schema.alias!r} records {schema.encoder!r}: train one on it "
                "(visearch tune --train reranker)"
            )
        if not schema.centroid:
            raise RerankerError(
                f"index {schema.alias!r} was built before products stored their photo "
                "centroid, which the re-ranker needs: rebuild it (visearch ingest --rebuild)"
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": 1,
            "features": list(FEATURES),
            "encoder": self.encoder,
            "weights": list(self.weights),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "top_n": self.top_n,
            "meta": self.meta,
        }

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / FILE_NAME
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> Reranker:
        """From a `reranker.json` or the folder holding one."""
        file = path / FILE_NAME if path.is_dir() else path
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError) as error:
            raise RerankerError(f"cannot read the re-ranker {file.name}: {error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RerankerError(f"{file.name} is not a visearch re-ranker")
        if data.get("features") != list(FEATURES):
            raise RerankerError(
                f"{file.name} uses features {data.get('features')}, this visearch "
                f"{list(FEATURES)}: train it again (visearch tune --train reranker)"
            )
        n = len(FEATURES)
        vectors = [data.get(k) for k in ("weights", "mean", "scale")]
        if not all(isinstance(v, list) and len(v) == n for v in vectors):
            raise RerankerError(f"{file.name}: weights, mean and scale need {n} numbers each")
        weights, mean, scale = (tuple(float(x) for x in v) for v in vectors)  # type: ignore[union-attr]
        return cls(str(data.get("encoder")), weights, mean, scale, int(data.get("top_n", TOP_N)),
                   dict(data.get("meta") or {}))  # fmt: skip


def rerank(
    explained: Sequence[tuple[str, Any, Explanation]], reranker: Reranker
) -> list[tuple[str, Any, Explanation]]:
    """`explained` (best fused first) with its top N permuted by the model; each re-ranked
    product records the model's score and takes the fused score of its new place."""
    head, tail = list(explained[: reranker.top_n]), list(explained[reranker.top_n :])
    if len(head) < 2:
        return [*head, *tail]
    scores = reranker.scores(feature_rows([why for _, _, why in head]))
    fused = sorted((why.fused_score or 0.0 for _, _, why in head), reverse=True)
    order = sorted(range(len(head)), key=lambda i: (-scores[i], i))
    out = []
    for place, i in enumerate(order):
        sku, source, why = head[i]
        out.append((sku, source, replace(why, rerank_score=float(scores[i]),
                                         fused_score=fused[place])))  # fmt: skip
    return [*out, *tail]
