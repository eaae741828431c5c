"""Grocery recall through the real system, beside brute-force exact cosine on the same vectors.

The shape of the real task: 296 phone photos taken in stores (`queries.csv`, split `val`) are
searched against 81 clean catalog photos (`gallery.csv`). The gallery goes through the real
ingest pipeline into an alias; every query goes through `Searcher.search` (the real request
path: image loader, encoder, knn request, ranking). A query is a hit at K when its relevant
sku is among the top K.

The exact baseline ranks the same vectors by dot product in numpy: the gallery embedded again
by the same encoder, and each query vector exactly as the Searcher computed it (recorded on
its way through, so no query is embedded twice). The difference between the two recalls is
therefore what the index and the request path lose; the model's quality is the exact figure.

    from bench.grocery import evaluate, ingest_gallery
    ingest_gallery(client, "bench-grocery", encoder)
    report = evaluate(client, "bench-grocery", encoder)
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visearch.ingest.catalog import CatalogSource, read_catalog
from visearch.ingest.pipeline import IngestOptions, IngestSummary, run_ingest
from visearch.plugin.params import SearchParams
from visearch.plugin.search import Searcher
from visearch.vectors.images import load_image

if TYPE_CHECKING:
    from PIL import Image

    from visearch.vectors.encoders import Encoder

GROCERY = Path(__file__).resolve().parents[2] / "shared" / "data" / "grocery"
KS = (1, 5, 10)


@dataclass(frozen=True)
class Query:
    query_id: str
    image: Path
    relevant: frozenset[str]


@dataclass(frozen=True)
class RecallReport:
    alias: str
    encoder: str
    gallery: int
    queries: int
    system: dict[int, float]
    """Recall@K of the real system (ingest + Searcher + OpenSearch)."""
    exact: dict[int, float]
    """Recall@K of brute-force cosine over the same embeddings."""
    search_seconds: float

    @property
    def difference(self) -> dict[int, float]:
        return {k: self.system[k] - self.exact[k] for k in self.system}

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "difference": self.difference}


def read_queries(folder: Path = GROCERY, split: str = "val") -> list[Query]:
    """The query photos of one split; `relevant_skus` may list several skus, `|`-separated."""
    with (folder / "queries.csv").open(newline="") as handle:
        return [
            Query(
                row["query_id"],
                folder / row["image"],
                frozenset(sku.strip() for sku in row["relevant_skus"].split("|") if sku.strip()),
            )
            for row in csv.DictReader(handle)
            if row["split"] == split
        ]


def ingest_gallery(
    client: Any, alias: str, encoder: Encoder, folder: Path = GROCERY
) -> IngestSummary:
    """Index `gallery.csv` into `alias` with the real pipeline; every product must make it."""
    source = CatalogSource(folder / "gallery.csv")
    summary = run_ingest(client, source, alias, encoder.name, lambda: encoder, IngestOptions())
    if summary.failed or summary.embedded + summary.unchanged != summary.read:
        raise RuntimeError(f"gallery ingest incomplete: {summary.as_dict()}; {summary.errors[:3]}")
    return summary


def recall_at(
    rankings: Sequence[Sequence[str]], relevant: Sequence[frozenset[str]], ks: Sequence[int] = KS
) -> dict[int, float]:
    """Fraction of queries with a relevant sku among the first K of their ranking, per K."""
    if len(rankings) != len(relevant) or not rankings:
        raise ValueError("need one ranking per query, and at least one query")
    pairs = list(zip(rankings, relevant, strict=True))
    return {k: sum(bool(set(r[:k]) & wanted) for r, wanted in pairs) / len(pairs) for k in ks}


def exact_rankings(
    skus: Sequence[str], gallery: np.ndarray, queries: np.ndarray, depth: int
) -> list[list[str]]:
    """Top `depth` skus per query by cosine (unit rows: dot product); ties go to the smaller sku."""
    order = sorted(range(len(skus)), key=lambda i: skus[i])
    sorted_skus = [skus[i] for i in order]
    scores = queries @ gallery[order].T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
    return [[sorted_skus[i] for i in row] for row in top]


class _RecordingEncoder:
    """The real encoder, remembering each output: the vectors the Searcher actually sent."""

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self.name = encoder.name
        self.dim = encoder.dim
        self.supports_text = encoder.supports_text
        self.outputs: list[np.ndarray] = []

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        vectors = self._encoder.embed_images(images)
        self.outputs.append(vectors)
        return vectors

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError("the grocery benchmark queries by image only")


def evaluate(
    client: Any,
    alias: str,
    encoder: Encoder,
    folder: Path = GROCERY,
    ks: Sequence[int] = KS,
    split: str = "val",
) -> RecallReport:
    """Recall@K of the system and of exact cosine, on an alias that holds the gallery."""
    queries = read_queries(folder, split)
    depth = max(ks)
    recorder = _RecordingEncoder(encoder)
    searcher = Searcher(client, alias, recorder)
    system: list[list[str]] = []
    started = time.perf_counter()
    for query in queries:
        result = searcher.search(SearchParams(image=str(query.image), k=depth))
        system.append([hit.sku for hit in result.hits])
    search_seconds = time.perf_counter() - started
    query_vectors = np.vstack(recorder.outputs)
    assert len(query_vectors) == len(queries)

    catalog = read_catalog(folder / "gallery.csv")
    skus = [product.sku for product in catalog.products]
    gallery = encoder.embed_images([load_image(p.image, folder) for p in catalog.products])
    exact = exact_rankings(skus, gallery, query_vectors, depth)

    relevant = [query.relevant for query in queries]
    return RecallReport(
        alias=alias,
        encoder=encoder.name,
        gallery=len(skus),
        queries=len(queries),
        system=recall_at(system, relevant, ks),
        exact=recall_at(exact, relevant, ks),
        search_seconds=round(search_seconds, 3),
    )
