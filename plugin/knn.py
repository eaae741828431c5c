"""The k-NN clause with an efficient filter, and the lucene score <-> cosine conversions.

The hard filters go *inside* the clause (`knn.photos.vector.filter`): the lucene engine then
searches only among matching products (exactly, when few match), so a selective filter still
yields k candidates, which a post-filter over the k nearest products would not.

Photos are nested documents of their product; the nested knn returns products (never the
same product twice) scored by their best-matching photo (`score_mode: max`), and the
filter on product fields applies to the parents.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from visearch.mappings.fields import PHOTO_CENTROID, PHOTOS_FIELD, VECTOR_FIELD
from visearch.plugin.errors import UnsupportedQueryError
from visearch.plugin.filters import Clause, all_of

COSINE = "cosinesimil"
OVERALL_LOOK = "_overall_look"
"""The script field a look search's hits carry: cosine to the product's photo centroid."""
_NO_CENTROID = -2.0  # what the script returns for a product without a centroid


MAX_K = 10_000
"""The largest k OpenSearch's knn query takes."""
CANDIDATES_FACTOR = 2
"""Each shard's graph search explores this many candidates per product it returns (HNSW's
`ef_search`, Elasticsearch's `num_candidates`). With ef = k a shard's approximate top k
misses more of the true top products as the shard grows: on a million synthetic 512-d
products over 3 shards recall@10 was 0.978 at ef 200 and 0.991 at ef 300-400, at the same
latency (raw knn queries, quiet machine; bench/scale.py's figures are in the README)."""
QUANTIZED_WIDEN = 5
"""On a scalar-quantized index (`encoder: sq`) the graph search ranks by the 7-bit vectors:
on 50,000 synthetic 512-d products its recall@10 was 0.58 with k 200 (one ad-hoc run of raw
knn queries). Rescoring the candidates with the float vectors (`rescore`) gave 0.945 at k 200
and 0.987 at k 1,000 (5x), so a quantized index's knn asks for k * 5 candidates, rescored;
the pool is then cut to k (README, "Scalar quantization", for bench/scale.py's figures)."""


def knn_clause(
    vector: Sequence[float] | np.ndarray,
    k: int,
    filters: Sequence[Clause],
    *,
    quantized: bool = False,
) -> Clause:
    """A nested knn over the product photos: `{"nested": {"path": "photos", "score_mode":
    "max", "query": {"knn": {"photos.vector": {"vector", "k", "method_parameters", "filter"?}}}}}`;
    no filter key without filters. Each shard returns k products found among
    `candidates(k)`; `quantized`: k * QUANTIZED_WIDEN candidates rescored with the floats."""
    body: dict[str, Any] = {"vector": np.asarray(vector, dtype=np.float32).tolist(), "k": k}
    if quantized:
        body["k"] = min(MAX_K, k * QUANTIZED_WIDEN)
        body["rescore"] = {"oversample_factor": 1.0}
    else:
        body["method_parameters"] = {"ef_search": candidates(k)}
    if filters:
        body["filter"] = all_of(filters)
    knn = {"knn": {VECTOR_FIELD: body}}
    return {"nested": {"path": PHOTOS_FIELD, "score_mode": "max", "query": knn}}


def candidates(k: int) -> int:
    """How many candidates a shard's graph search explores for its k products."""
    return max(k, min(MAX_K, CANDIDATES_FACTOR * k))


def similarity(score: float, space_type: str | None) -> float | None:
    """Cosine similarity of a hit: lucene scores cosinesimil as (1 + cos) / 2."""
    return 2.0 * score - 1.0 if space_type == COSINE else None


def min_knn_score(min_similarity: float, space_type: str | None) -> float:
    """The `_score` a hit needs for cosine similarity >= `min_similarity`."""
    if space_type != COSINE:
        raise UnsupportedQueryError(
            f"min_score is a cosine similarity, but the index's vectors use {space_type!r}"
        )
    return (1.0 + min_similarity) / 2.0


def overall_look_field(vector: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """`script_fields` entry giving each hit its overall look: the cosine of the query to the
    normalised mean of the product's photo vectors (one dot product per hit, in the fetch)."""
    source = (
        f"doc['{PHOTO_CENTROID}'].size() == 0 ? {_NO_CENTROID} : "
        f"(double) cosineSimilarity(params.query, doc['{PHOTO_CENTROID}'])"
    )
    query = np.asarray(vector, dtype=np.float32).tolist()
    return {OVERALL_LOOK: {"script": {"source": source, "params": {"query": query}}}}


def overall_look(value: Any) -> float | None:
    """The script field's value as a cosine; None where the product has no centroid."""
    if value is None or float(value) < _NO_CENTROID + 0.5:
        return None
    return float(value)
