"""Query latency per stage, and kNN recall against exact search, through the real Searcher.

Two parts, each on its own alias (cached between runs):

* **fashion**: the 9,261-product fashion catalog embedded by EfficientNet-Lite0 (alias
  `bench-fashion`, built with the real ingest pipeline if missing; `bench-ingest`, which
  bench/ingest_throughput.py leaves behind, is reused when it holds the same catalog with the
  same encoder and today's mapping version). Catalog photos are the queries: image path in,
  real loader and encoder, facets colour_group/article_type/gender/brand, and a hard filter
  on the photo's category.
* **synthetic**: `--synthetic-size` (default 200,000) clustered unit vectors of CLIP
  ViT-B/32's dimension (512), shaped like real embeddings (see `make_synthetic`), with skewed
  attributes, bulk-loaded into an index made from our template (alias
  `bench-synthetic-200k`) and force-merged. Queries are perturbed dataset vectors; each runs
  through `Searcher.search` with the facets and a hard filter selecting ~20%
  (category=Footwear) or ~2% (category=Sports) of the products, twice: with queries near
  random products ("any": mostly photos of other categories, the worst case for filtered
  HNSW, since category follows the vectors) and near products the filter selects ("match":
  a shoe photo filtered to Footwear). recall@10 is measured against numpy brute force
  (cosine) over the filtered subset. The synthetic index has no photos, so the query vectors
  travel as 1x1 "images" whose pixel names a row of the prepared query matrix, which a
  stand-in encoder (`QueryMatrixEncoder`) hands back: the rest of the request path (schema
  and encoder checks, knn clause with the efficient filter, facets, ranking) is the real
  one, and no vector hook is needed in the public API. `--candidates-sweep` repeats the
  filtered rows with other pool sizes N (N is the lucene k, i.e. its candidate list).

Warm-up queries (`--warmup`, other photos/vectors) run first and are discarded. Percentiles
are over `--queries` searches per row. Targets: recall@10 >= 0.98 with each filter, and
OpenSearch p95 (took and round trip) <= 30 ms for kNN + filter + facets at 200k. The machine's
load average is printed with the figures: on a shared machine, compare runs only at a
similar load.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/query_latency.py [--queries 200]
        [--synthetic-size 200000] [--rebuild] [--skip-fashion] [--skip-synthetic] [--json]

It needs OpenSearch (OPENSEARCH_URL, default the local node: `visearch opensearch up`). The
first synthetic run bulk-loads and force-merges the index (minutes); later runs reuse it
unless its document count or vectors differ, or `--rebuild` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cli import env_opensearch_url

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python bench/query_latency.py` as well as `-m bench...`
    sys.path.insert(0, str(REPO_ROOT))

DEFAULT_CATALOG = REPO_ROOT.parent / "shared" / "data" / "fashion" / "catalog.csv"
FACETS = ("colour_group", "article_type", "gender", "brand")
STAGES = (
    ("load", "load_ms"),
    ("encode", "encode_ms"),
    ("OpenSearch took", "opensearch_took_ms"),
    ("OpenSearch round trip", "opensearch_ms"),
    ("total", "total_ms"),
)
TARGET_RECALL = 0.98
TARGET_P95_MS = 30.0
RECALL_K = 10

# --------------------------------------------------------------------------- statistics


def percentiles(values: Sequence[float]) -> dict[str, float]:
    data = np.asarray(values, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(data, 50)), 2),
        "p95": round(float(np.percentile(data, 95)), 2),
        "mean": round(float(data.mean()), 2),
        "max": round(float(data.max()), 2),
    }


def stage_stats(timings: Sequence[Any]) -> dict[str, dict[str, float]]:
    return {attr: percentiles([getattr(t, attr) for t in timings]) for _, attr in STAGES}


def run_queries(
    search: Callable[[Any], Any], queries: Sequence[Any], warmup: Sequence[Any]
) -> list[Any]:
    """SearchResults of `queries`, after running (and dropping) the `warmup` ones."""
    for params in warmup:
        search(params)
    return [search(params) for params in queries]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------- fashion


def alias_holds(client: Any, alias: str, encoder: str, count: int) -> bool:
    """The alias exists with today's mapping version, was embedded by `encoder` and holds
    exactly `count` products."""
    from ingest.aliases import AliasError, current_index
    from mappings.install import mapping_version

    try:
        index = current_index(client, alias)
    except AliasError:
        return False
    if index is None:
        return False
    meta = client.indices.get_mapping(index=index)[index]["mappings"].get("_meta") or {}
    return (
        meta.get("encoder") == encoder
        and meta.get("mapping_version") == mapping_version()
        and client.count(index=index)["count"] == count
    )


def fashion_part(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    from ingest.catalog import read_catalog
    from ingest.encoders import load_encoder
    from ingest.pipeline import IngestOptions, run_ingest
    from plugin.params import SearchParams
    from plugin.search import Searcher

    catalog = read_catalog(args.catalog)
    products = catalog.products
    base_dir = args.catalog.resolve().parent
    encoder = load_encoder(args.encoder)
    alias = next(
        (
            a
            for a in (args.fashion_alias, "bench-ingest")
            if alias_holds(client, a, encoder.name, len(products))
        ),
        None,
    )
    built = None
    if alias is None:
        alias = args.fashion_alias
        summary = run_ingest(
            client, catalog, base_dir, alias, encoder.name, lambda: encoder, IngestOptions()
        )
        built = summary.as_dict()
    searcher = Searcher(client, alias, encoder)

    picks = np.linspace(0, len(products) - 1, args.queries + args.warmup).round().astype(int)
    chosen = [products[i] for i in picks]

    def params(product: Any) -> SearchParams:
        return SearchParams(
            image=str(base_dir / product.image),
            k=20,
            facets=FACETS,
            filters={"category": product.attributes["category"]},
        )

    warm = [params(p) for p in chosen[: args.warmup]]
    measured = [params(p) for p in chosen[args.warmup :]]
    results = run_queries(searcher.search, measured, warm)
    found_itself = sum(
        r.hits and r.hits[0].sku == p.sku
        for r, p in zip(results, chosen[args.warmup :], strict=True)
    )
    return {
        "alias": alias,
        "built": built,
        "products": client.count(index=alias)["count"],
        "segments": segment_count(client, alias),
        "encoder": encoder.name,
        "queries": len(results),
        "warmup": len(warm),
        "k": 20,
        "candidates": measured[0].pool_size,
        "facets": list(FACETS),
        "filter": "category = the query photo's category",
        "photo_is_top_hit": round(found_itself / len(results), 4),
        "stages_ms": stage_stats([r.timings for r in results]),
    }


# --------------------------------------------------------------------------- synthetic data

SYNTH_VERSION = 2
SYNTH_ENCODER = f"synthetic-512-v{SYNTH_VERSION}"
"""Recorded in the index's `_meta.encoder`: bump the version when the generator changes."""
SYNTH_DIM = 512
SYNTH_SEED = 20240611
SYNTH_DECIMALS = 5
"""Vectors travel as JSON rounded to this many decimals; the exact baseline uses the same."""
SPECTRUM_ALPHA = 0.6  # variance along the i-th axis of a random basis ~ i^(-2 * alpha)
SHARED = 0.75  # weight of one direction every product shares (mean pairwise cosine ~0.39)
NOISE = 0.6  # |noise| around the cluster centre, before the spectrum

CATEGORIES = {  # share of products; Footwear ~20% and Sports ~2% are the benchmark's filters
    "Apparel": 0.46,
    "Footwear": 0.20,
    "Accessories": 0.17,
    "Home": 0.09,
    "Beauty": 0.06,
    "Sports": 0.02,
}
FILTER_20 = ("category", "Footwear")
FILTER_2 = ("category", "Sports")
ARTICLE_TYPES = {
    "Apparel": [
        "Tshirts",
        "Shirts",
        "Jeans",
        "Dresses",
        "Tops",
        "Trousers",
        "Jackets",
        "Sweaters",
        "Shorts",
        "Skirts",
        "Kurtas",
        "Track Pants",
        "Leggings",
        "Blazers",
    ],
    "Footwear": [
        "Casual Shoes",
        "Sports Shoes",
        "Heels",
        "Flip Flops",
        "Sandals",
        "Formal Shoes",
        "Flats",
        "Boots",
    ],
    "Accessories": [
        "Watches",
        "Handbags",
        "Sunglasses",
        "Belts",
        "Wallets",
        "Backpacks",
        "Caps",
        "Jewellery",
        "Scarves",
    ],
    "Home": ["Cushions", "Bedsheets", "Towels", "Lamps", "Mugs", "Curtains"],
    "Beauty": ["Lipstick", "Perfume", "Nail Polish", "Face Wash", "Deodorant"],
    "Sports": ["Yoga Mats", "Footballs", "Rackets", "Dumbbells"],
}
PRICE_SCALE = {
    "Apparel": 30,
    "Footwear": 60,
    "Accessories": 40,
    "Home": 25,
    "Beauty": 15,
    "Sports": 35,
}
COLOUR_GROUPS = {
    "Black": 0.21,
    "White": 0.14,
    "Blue": 0.13,
    "Grey": 0.08,
    "Brown": 0.07,
    "Red": 0.07,
    "Green": 0.06,
    "Navy": 0.05,
    "Pink": 0.05,
    "Beige": 0.04,
    "Yellow": 0.04,
    "Purple": 0.03,
    "Orange": 0.03,
}
GENDERS = {"Men": 0.52, "Women": 0.34, "Unisex": 0.09, "Boys": 0.025, "Girls": 0.025}
BRANDS = 400


@dataclass
class Synthetic:
    """The generated catalog; row i is the product `sku(i)`."""

    vectors: np.ndarray  # (n, dim) float32, exactly what the index holds
    text: dict[str, np.ndarray]  # keyword attribute -> value per product (object arrays)
    price: np.ndarray
    in_stock: np.ndarray
    popularity: np.ndarray

    def __len__(self) -> int:
        return len(self.vectors)

    @cached_property
    def norms(self) -> np.ndarray:
        """Row norms (1 up to the rounding), for exact cosine."""
        return np.linalg.norm(self.vectors, axis=1)

    def mask(self, field: str, value: str) -> np.ndarray:
        return self.text[field] == value


def sku(i: int) -> str:
    return f"syn{i:07d}"


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _zipf(n: int, s: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** s
    return weights / weights.sum()


def _pick(rng: np.random.Generator, table: dict[str, float], size: int) -> np.ndarray:
    names = np.array(list(table), dtype=object)
    p = np.array(list(table.values()))
    return names[rng.choice(len(names), size=size, p=p / p.sum())]


def make_synthetic(n: int, dim: int = SYNTH_DIM, seed: int = SYNTH_SEED) -> Synthetic:
    """Clustered, anisotropic unit vectors with cluster-correlated category, type and colour.

    A few thousand clusters (n/50) of skewed (lognormal) sizes; each cluster belongs to one
    article type (hence one category), its centre built from a category direction, a type
    direction and its own, so nearby clusters share a category as photos of shoes do.
    Products are centre + noise; the whole cloud is then scaled along a random basis by a
    power-law spectrum and given a shared direction, because real image embeddings are far
    from isotropic: with SPECTRUM_ALPHA, SHARED and NOISE below, 9,261 products sampled from
    the 200k have about the statistics of the real fashion catalog's EfficientNet-Lite0
    vectors (participation ratio 17 vs 19, mean pairwise cosine 0.39 vs 0.37, local intrinsic
    dimension 13 vs 16). Isotropic 512-d noise instead (participation ratio ~115) makes every
    cluster member nearly equidistant, a far harder and unrealistic ANN problem.
    Categories are dealt to clusters so that their product shares match CATEGORIES.
    """
    rng = np.random.default_rng(seed)
    n_clusters = max(16, n // 50)
    sizes = rng.lognormal(0.0, 1.0, n_clusters)
    cluster = rng.choice(n_clusters, size=n, p=sizes / sizes.sum())
    counts = np.bincount(cluster, minlength=n_clusters)

    # Deal categories to clusters in random order until each category's share is filled.
    names = list(CATEGORIES)
    bounds = np.cumsum([CATEGORIES[c] for c in names])
    order = rng.permutation(n_clusters)
    middle = (np.cumsum(counts[order]) - counts[order] / 2) / n
    cluster_category = np.empty(n_clusters, dtype=np.int64)
    cluster_category[order] = np.minimum(np.searchsorted(bounds, middle), len(names) - 1)
    type_names: list[str] = []
    cluster_type = np.empty(n_clusters, dtype=np.int64)
    for c, category in enumerate(names):
        first = len(type_names)
        types = ARTICLE_TYPES[category]
        type_names += types
        members = np.flatnonzero(cluster_category == c)
        cluster_type[members] = first + rng.choice(
            len(types), members.size, p=_zipf(len(types), 1.0)
        )
    colours = list(COLOUR_GROUPS)
    cluster_colour = _pick(rng, COLOUR_GROUPS, n_clusters)

    category_dirs = _unit(rng.standard_normal((len(names), dim)))
    type_dirs = _unit(rng.standard_normal((len(type_names), dim)))
    own = _unit(rng.standard_normal((n_clusters, dim)))
    centres = _unit(
        0.5 * category_dirs[cluster_category] + 0.5 * type_dirs[cluster_type] + 0.8 * own
    )
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    spectrum = np.arange(1, dim + 1) ** -SPECTRUM_ALPHA
    spectrum /= np.sqrt(np.mean(spectrum**2))
    shared = _unit(rng.standard_normal(dim))
    vectors = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 20_000):
        part = slice(start, min(start + 20_000, n))
        noise = rng.standard_normal((part.stop - start, dim)) * (NOISE / np.sqrt(dim))
        rows = _unit((centres[cluster[part]] + noise) @ basis * spectrum)
        vectors[part] = np.round(_unit(rows + SHARED * shared), SYNTH_DECIMALS)

    own_colour = rng.random(n) < 0.7  # most of a cluster shares its colour, as photos do
    colour = np.where(own_colour, cluster_colour[cluster], _pick(rng, COLOUR_GROUPS, n))
    category = np.array(names, dtype=object)[cluster_category[cluster]]
    brand = np.array([f"Brand {b:03d}" for b in range(BRANDS)], dtype=object)[
        rng.choice(BRANDS, size=n, p=_zipf(BRANDS, 0.9))
    ]
    scale = np.array([PRICE_SCALE[c] for c in names])[cluster_category[cluster]]
    assert set(colour) <= set(colours)
    return Synthetic(
        vectors=vectors,
        text={
            "category": category,
            "article_type": np.array(type_names, dtype=object)[cluster_type[cluster]],
            "colour_group": colour,
            "gender": _pick(rng, GENDERS, n),
            "brand": brand,
        },
        price=np.round(scale * rng.lognormal(0.0, 0.6, n), 2),
        in_stock=rng.random(n) < 0.9,
        popularity=np.round(rng.pareto(1.5, n) * 10, 1),
    )


def perturbed_queries(
    data: Synthetic, count: int, seed: int, among: np.ndarray | None = None
) -> np.ndarray:
    """Unit vectors near random products (of those `among` selects), like a re-shot photo."""
    rng = np.random.default_rng(seed)
    pool = np.arange(len(data)) if among is None else np.flatnonzero(among)
    rows = data.vectors[rng.choice(pool, size=count, replace=False)].astype(np.float64)
    noise = 0.3 / np.sqrt(rows.shape[1]) * rng.standard_normal(rows.shape)
    return _unit(rows + noise).astype(np.float32)


class QueryMatrixEncoder:
    """Stands in for the model: the query "image" is a 1x1 pixel naming a row of `vectors`.

    Searcher takes images (or text), not raw vectors; this lets prepared vectors travel the
    real request path without a vector hook in the public SearchParams.
    """

    supports_text = False

    def __init__(self, name: str, vectors: np.ndarray) -> None:
        if len(vectors) >= 1 << 24:
            raise ValueError("a 24-bit pixel names at most 16,777,216 rows")
        self.name = name
        self.dim = vectors.shape[1]
        self.vectors = vectors

    @staticmethod
    def image(row: int) -> Image.Image:
        return Image.new("RGB", (1, 1), ((row >> 16) & 255, (row >> 8) & 255, row & 255))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        rows = []
        for image in images:
            r, g, b = image.getpixel((0, 0))
            rows.append((r << 16) | (g << 8) | b)
        return self.vectors[rows]

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError("synthetic queries are vectors")


# --------------------------------------------------------------------------- synthetic index


def synthetic_alias(size: int) -> str:
    label = f"{size // 1000}k" if size % 1000 == 0 else str(size)
    return f"bench-synthetic-{label}"


def documents(data: Synthetic, index: str) -> Iterator[dict[str, Any]]:
    """Product documents shaped like ingest's: one photo, its vector in the nested `photos`."""
    from mappings.install import PHOTO_VECTOR, PHOTOS_FIELD

    fields = list(data.text)
    for i in range(len(data)):
        attrs = {name: data.text[name][i] for name in fields}
        image = f"synthetic/{sku(i)}.jpg"
        # float64 of the rounded value: a short JSON repr, parsed back to the same float32.
        vector = data.vectors[i].astype(np.float64).round(SYNTH_DECIMALS).tolist()
        yield {
            "_index": index,
            "_id": sku(i),
            "sku": sku(i),
            "title": f"{attrs['brand']} {attrs['colour_group']} {attrs['article_type']}",
            **attrs,
            "price": float(data.price[i]),
            "in_stock": bool(data.in_stock[i]),
            "popularity": float(data.popularity[i]),
            "image": image,
            PHOTOS_FIELD: [{"image": image, PHOTO_VECTOR: vector}],
            "photo_count": 1,
            "encoder": SYNTH_ENCODER,
        }


def segment_count(client: Any, index: str) -> int:
    rows = client.cat.segments(index=index, format="json")
    return sum(1 for row in rows if str(row.get("searchable")) == "true")


def cached_index_matches(client: Any, alias: str, data: Synthetic) -> bool:
    """Same mapping version, encoder tag and count, and a few stored vectors equal the
    regenerated ones."""
    from mappings.install import PHOTO_VECTOR, PHOTOS_FIELD

    if not alias_holds(client, alias, SYNTH_ENCODER, len(data)):
        return False
    for i in np.linspace(0, len(data) - 1, 5).astype(int):
        stored = client.get(index=alias, id=sku(int(i)), _source_includes=[PHOTOS_FIELD])
        photos = stored["_source"].get(PHOTOS_FIELD) or [{}]
        vector = np.asarray(photos[0].get(PHOTO_VECTOR, ()), dtype=np.float32)
        if vector.shape != data.vectors[i].shape or not np.allclose(
            vector, data.vectors[i], atol=1e-6
        ):
            return False
    return True


def build_synthetic(client: Any, alias: str, data: Synthetic, log: Callable[[str], None]) -> dict:
    """Bulk-load `data` into a new index from our template, merge it, then point the alias."""
    from opensearchpy import helpers

    from ingest import aliases
    from mappings.install import IndexSpec, put_template

    for index in aliases.indices_of(client, alias):
        client.indices.delete(index=index, ignore_unavailable=True)
    client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True, expand_wildcards="all")
    put_template(client, IndexSpec(alias=alias, encoder=SYNTH_ENCODER, dim=data.vectors.shape[1]))
    index = aliases.create_index(client, alias)
    settings = client.indices.get_settings(index=index)[index]["settings"]["index"]
    refresh = settings.get("refresh_interval", "1s")
    client.indices.put_settings(index=index, body={"index": {"refresh_interval": "-1"}})

    started = time.perf_counter()
    loaded = 0
    for ok, item in helpers.parallel_bulk(
        client, documents(data, index), thread_count=2, chunk_size=500, request_timeout=300
    ):
        if not ok:
            raise RuntimeError(f"bulk failure: {item}")
        loaded += 1
        if loaded % 50_000 == 0:
            log(f"  loaded {loaded:,} documents ({time.perf_counter() - started:.0f} s)")
    load_s = time.perf_counter() - started

    client.indices.put_settings(index=index, body={"index": {"refresh_interval": refresh}})
    client.indices.refresh(index=index, request_timeout=600)
    before = segment_count(client, index)
    started = time.perf_counter()
    client.indices.forcemerge(index=index, max_num_segments=1, request_timeout=3600)
    merge_s = time.perf_counter() - started
    client.indices.refresh(index=index)
    aliases.point_alias(client, alias, index)
    return {
        "index": index,
        "documents": loaded,
        "load_s": round(load_s, 1),
        "docs_per_s": round(loaded / load_s, 1),
        "segments_before_merge": before,
        "force_merge_s": round(merge_s, 1),
    }


def exact_top(data: Synthetic, mask: np.ndarray | None, queries: np.ndarray, k: int) -> list[set]:
    """Brute-force cosine top k among the products `mask` selects, per query (skus)."""
    rows = np.arange(len(data)) if mask is None else np.flatnonzero(mask)
    scores = (_unit(queries) @ data.vectors[rows].T) / data.norms[rows]
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return [{sku(int(rows[j])) for j in row} for row in top]


QUERY_MIXES = {
    "any": "queries near random products (mostly of other categories than the filter's)",
    "match": "queries near products the filter selects (a shoe photo, filtered to Footwear)",
}


def synthetic_part(
    client: Any, args: argparse.Namespace, log: Callable[[str], None]
) -> dict[str, Any]:
    from plugin.params import SearchParams
    from plugin.search import Searcher

    started = time.perf_counter()
    data = make_synthetic(args.synthetic_size)
    log(f"generated {len(data):,} x {SYNTH_DIM} in {time.perf_counter() - started:.1f} s")
    alias = synthetic_alias(args.synthetic_size)
    built = None
    if args.rebuild or not cached_index_matches(client, alias, data):
        log(f"building {alias} (bulk load + force merge; takes minutes) ...")
        built = build_synthetic(client, alias, data, log)
        log(f"built: {built}")
    (index,) = client.indices.get_alias(name=alias)

    # One query matrix: `total` rows near random products, then `total` near products of
    # each filter; the stand-in encoder serves all of them.
    total = args.queries + args.warmup
    filters = {"any": None, FILTER_20[1]: FILTER_20, FILTER_2[1]: FILTER_2}
    blocks = {
        name: perturbed_queries(
            data, total, SYNTH_SEED + i + 1, None if where is None else data.mask(*where)
        )
        for i, (name, where) in enumerate(filters.items())
    }
    offsets = dict(zip(blocks, range(0, total * len(blocks), total), strict=True))
    vectors = np.vstack(list(blocks.values()))
    encoder = QueryMatrixEncoder(SYNTH_ENCODER, vectors)
    searcher = Searcher(client, alias, encoder)

    def measure(where: tuple[str, str] | None, mix: str, candidates: int | None) -> dict[str, Any]:
        offset = offsets["any" if mix == "any" or where is None else where[1]]
        hard = {where[0]: where[1]} if where else {}

        def params(row: int) -> SearchParams:
            return SearchParams(
                image=encoder.image(row),
                k=RECALL_K,
                facets=FACETS,
                filters=hard,
                candidates=candidates,
            )

        rows = list(range(offset + args.warmup, offset + total))
        warm = [params(r) for r in range(offset, offset + args.warmup)]
        results = run_queries(searcher.search, [params(r) for r in rows], warm)
        mask = data.mask(*where) if where else None
        exact = exact_top(data, mask, vectors[rows], RECALL_K)
        recall = [
            len({hit.sku for hit in result.hits} & truth) / RECALL_K
            for result, truth in zip(results, exact, strict=True)
        ]
        timings = [r.timings for r in results]
        return {
            "filter": "none" if where is None else f"{where[0]}={where[1]}",
            "queries": mix,
            "selectivity": round(float(mask.mean()), 4) if mask is not None else 1.0,
            "candidates": results[0].candidates,
            "recall_at_10": round(float(np.mean(recall)), 4),
            "recall_at_10_min": round(float(np.min(recall)), 2),
            "took_ms": percentiles([t.opensearch_took_ms for t in timings]),
            "round_trip_ms": percentiles([t.opensearch_ms for t in timings]),
            "total_ms": percentiles([t.total_ms for t in timings]),
        }

    scenarios = [(None, "any")] + [(w, mix) for w in (FILTER_20, FILTER_2) for mix in QUERY_MIXES]
    results = [measure(where, mix, None) for where, mix in scenarios]
    log(f"default pool measured ({time.perf_counter() - started:.0f} s so far)")
    sweep = [measure(w, mix, c) for w, mix in scenarios[1:] for c in args.candidates_sweep]
    counts = {field: _shares(values) for field, values in data.text.items() if field != "brand"}
    return {
        "alias": alias,
        "index": index,
        "built": built,
        "products": client.count(index=alias)["count"],
        "dim": SYNTH_DIM,
        "generator": SYNTH_ENCODER,
        "segments": segment_count(client, index),
        "hnsw": {"m": 16, "ef_construction": 128, "engine": "lucene", "space": "cosinesimil"},
        "queries": args.queries,
        "warmup": args.warmup,
        "query_mixes": QUERY_MIXES,
        "facets": list(FACETS),
        "attribute_shares": counts,
        "top_brand_share": max(_shares(data.text["brand"]).values()),
        "in_stock_share": round(float(data.in_stock.mean()), 3),
        "scenarios": results,
        "candidates_sweep": sweep,
    }


def _shares(values: np.ndarray) -> dict[str, float]:
    names, counts = np.unique(values.astype(str), return_counts=True)
    order = np.argsort(-counts)
    return {str(names[i]): round(float(counts[i]) / len(values), 4) for i in order[:8]}


# --------------------------------------------------------------------------- report


def checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    synthetic = report.get("synthetic")
    if not synthetic:
        return []
    out = []
    size = f"{synthetic['products'] // 1000}k"
    for s in synthetic["scenarios"]:
        if s["filter"] == "none":
            continue
        name = f"{s['filter']} ({100 * s['selectivity']:.0f}%), {s['queries']}, {size}"
        out.append(_check(f"recall@10, {name}", s["recall_at_10"], ">=", TARGET_RECALL))
        out.append(_check(f"took p95, {name}", s["took_ms"]["p95"], "<=", TARGET_P95_MS))
        out.append(
            _check(f"round trip p95, {name}", s["round_trip_ms"]["p95"], "<=", TARGET_P95_MS)
        )
    return out


def _check(name: str, value: float, op: str, target: float) -> dict[str, Any]:
    ok = value >= target if op == ">=" else value <= target
    return {"check": name, "value": value, "target": f"{op} {target:g}", "pass": ok}


def print_report(report: dict[str, Any]) -> None:
    print(f"load average before/after: {report['load_before']} / {report['load_after']}")
    fashion = report.get("fashion")
    if fashion:
        print(
            f"\nFashion: {fashion['products']:,} products in {fashion['alias']} "
            f"({fashion['encoder']}, {fashion['segments']} segments); {fashion['queries']} catalog "
            f"photos as queries ({fashion['warmup']} warm-up discarded), k {fashion['k']}, pool "
            f"{fashion['candidates']}, facets {'/'.join(FACETS)}, filter: {fashion['filter']}"
        )
        print(f"  {'stage':24}{'p50 ms':>9}{'p95 ms':>9}{'mean':>9}")
        for label, attr in STAGES:
            s = fashion["stages_ms"][attr]
            print(f"  {label:24}{s['p50']:9.1f}{s['p95']:9.1f}{s['mean']:9.1f}")
        print(f"  query photo is the top hit: {fashion['photo_is_top_hit']:.3f}")
    synthetic = report.get("synthetic")
    if synthetic:
        print(
            f"\nSynthetic: {synthetic['products']:,} x {synthetic['dim']} in {synthetic['alias']} "
            f"({synthetic['segments']} segment(s), HNSW m 16 ef_construction 128, lucene); "
            f"{synthetic['queries']} perturbed-product queries per row ({synthetic['warmup']} "
            f"warm-up discarded), k {RECALL_K}, facets {'/'.join(FACETS)}"
        )
        for mix, meaning in synthetic["query_mixes"].items():
            print(f"  queries {mix!r}: {meaning}")
        print(_HEADER)
        for s in synthetic["scenarios"]:
            print(_row(s))
        if synthetic["candidates_sweep"]:
            print("  candidates sweep (pool size N = the lucene k):")
            for s in synthetic["candidates_sweep"]:
                print(_row(s))
    if report["checks"]:
        print(f"\n  {'check':58}{'value':>9}  {'target':10}")
        for c in report["checks"]:
            mark = "PASS" if c["pass"] else "FAIL"
            print(f"  {c['check']:58}{c['value']:9.3f}  {c['target']:10}{mark}")


_HEADER = (
    f"  {'filter':18}{'share':>7}{'queries':>8}{'pool':>6}{'recall@10':>11}"
    f"{'took p50':>10}{'p95':>7}{'rtrip p50':>11}{'p95':>7}"
)


def _row(s: dict[str, Any]) -> str:
    return (
        f"  {s['filter']:18}{100 * s['selectivity']:6.1f}%{s['queries']:>8}{s['candidates']:6d}"
        f"{s['recall_at_10']:11.4f}{s['took_ms']['p50']:10.1f}{s['took_ms']['p95']:7.1f}"
        f"{s['round_trip_ms']['p50']:11.1f}{s['round_trip_ms']['p95']:7.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200, help="Measured queries per scenario.")
    parser.add_argument("--warmup", type=int, default=20, help="Discarded queries first.")
    parser.add_argument("--synthetic-size", type=int, default=200_000)
    parser.add_argument("--rebuild", action="store_true", help="Rebuild the synthetic index.")
    parser.add_argument("--skip-fashion", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument(
        "--candidates-sweep",
        type=lambda text: [int(x) for x in text.split(",") if x.strip()],
        default=[10, 50, 100, 400],
        help="Pool sizes (the lucene k) to also measure with each filter; '' for none.",
    )
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--encoder", default="efficientnet-lite0")
    parser.add_argument("--fashion-alias", default="bench-fashion")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from plugin.connection import make_client

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    client = make_client(args.opensearch_url, timeout_s=120)
    report: dict[str, Any] = {"opensearch_url": args.opensearch_url, "load_before": load_average()}
    info = client.info()
    report["opensearch"] = info["version"]["number"]
    if not args.skip_fashion:
        report["fashion"] = fashion_part(client, args)
    if not args.skip_synthetic:
        report["synthetic"] = synthetic_part(client, args, log)
    report["load_after"] = load_average()
    report["checks"] = checks(report)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)


if __name__ == "__main__":
    main()
