"""The synthetic catalog of bench/query_latency.py: clustered unit vectors of CLIP ViT-B/32's
dimension (512) shaped like real image embeddings, with skewed, cluster-correlated attributes
(category, article type, colour, gender, brand, price, stock, popularity); perturbed product
vectors as queries; the stand-in encoder that carries those query vectors through the real
Searcher as 1x1 "images"; and exact (brute-force cosine) top k for recall.

Everything is seeded: the same size gives the same catalog and queries on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image

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


@dataclass
class _Clusters:
    """Which cluster each product is in, and each cluster's category, type and colour."""

    of_product: np.ndarray  # cluster index per product
    category: np.ndarray  # per cluster: index into list(CATEGORIES)
    article_type: np.ndarray  # per cluster: index into type_names
    type_names: list[str]
    colour: np.ndarray  # per cluster: a COLOUR_GROUPS name


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
    clusters = _clusters(rng, n)
    vectors = _vectors(rng, clusters, dim)
    return _products(rng, clusters, vectors)


def _clusters(rng: np.random.Generator, n: int) -> _Clusters:
    """A few thousand clusters (n/50) of skewed sizes, each of one category and article type
    and mostly of one colour."""
    n_clusters = max(16, n // 50)
    sizes = rng.lognormal(0.0, 1.0, n_clusters)
    cluster = rng.choice(n_clusters, size=n, p=sizes / sizes.sum())
    counts = np.bincount(cluster, minlength=n_clusters)
    cluster_category = _deal_categories(rng, counts, n)
    type_names, cluster_type = _deal_types(rng, cluster_category)
    cluster_colour = _pick(rng, COLOUR_GROUPS, n_clusters)
    return _Clusters(cluster, cluster_category, cluster_type, type_names, cluster_colour)


def _deal_categories(rng: np.random.Generator, counts: np.ndarray, n: int) -> np.ndarray:
    """Deal categories to clusters in random order until each category's share is filled."""
    names = list(CATEGORIES)
    bounds = np.cumsum([CATEGORIES[c] for c in names])
    order = rng.permutation(len(counts))
    middle = (np.cumsum(counts[order]) - counts[order] / 2) / n
    cluster_category = np.empty(len(counts), dtype=np.int64)
    cluster_category[order] = np.minimum(np.searchsorted(bounds, middle), len(names) - 1)
    return cluster_category


def _deal_types(
    rng: np.random.Generator, cluster_category: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """(all article type names, type index per cluster): Zipf-skewed within each category."""
    type_names: list[str] = []
    cluster_type = np.empty(len(cluster_category), dtype=np.int64)
    for c, category in enumerate(CATEGORIES):
        first = len(type_names)
        types = ARTICLE_TYPES[category]
        type_names += types
        members = np.flatnonzero(cluster_category == c)
        cluster_type[members] = first + rng.choice(
            len(types), members.size, p=_zipf(len(types), 1.0)
        )
    return type_names, cluster_type


def _vectors(rng: np.random.Generator, clusters: _Clusters, dim: int) -> np.ndarray:
    """Centre + noise per product, scaled along a random basis by the power-law spectrum and
    given the shared direction; unit length, rounded to SYNTH_DECIMALS."""
    n_clusters = len(clusters.category)
    category_dirs = _unit(rng.standard_normal((len(CATEGORIES), dim)))
    type_dirs = _unit(rng.standard_normal((len(clusters.type_names), dim)))
    own = _unit(rng.standard_normal((n_clusters, dim)))
    centres = _unit(
        0.5 * category_dirs[clusters.category] + 0.5 * type_dirs[clusters.article_type] + 0.8 * own
    )
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    spectrum = np.arange(1, dim + 1) ** -SPECTRUM_ALPHA
    spectrum /= np.sqrt(np.mean(spectrum**2))
    shared = _unit(rng.standard_normal(dim))
    cluster = clusters.of_product
    n = len(cluster)
    vectors = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 20_000):
        part = slice(start, min(start + 20_000, n))
        noise = rng.standard_normal((part.stop - start, dim)) * (NOISE / np.sqrt(dim))
        rows = _unit((centres[cluster[part]] + noise) @ basis * spectrum)
        vectors[part] = np.round(_unit(rows + SHARED * shared), SYNTH_DECIMALS)
    return vectors


def _products(rng: np.random.Generator, clusters: _Clusters, vectors: np.ndarray) -> Synthetic:
    """The catalog: the vectors with attributes, mostly following each product's cluster."""
    n = len(vectors)
    names = list(CATEGORIES)
    cluster = clusters.of_product
    own_colour = rng.random(n) < 0.7  # most of a cluster shares its colour, as photos do
    colour = np.where(own_colour, clusters.colour[cluster], _pick(rng, COLOUR_GROUPS, n))
    category = np.array(names, dtype=object)[clusters.category[cluster]]
    brand = np.array([f"Brand {b:03d}" for b in range(BRANDS)], dtype=object)[
        rng.choice(BRANDS, size=n, p=_zipf(BRANDS, 0.9))
    ]
    scale = np.array([PRICE_SCALE[c] for c in names])[clusters.category[cluster]]
    assert set(colour) <= set(COLOUR_GROUPS)
    return Synthetic(
        vectors=vectors,
        text={
            "category": category,
            "article_type": np.array(clusters.type_names, dtype=object)[
                clusters.article_type[cluster]
            ],
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


def exact_top(data: Synthetic, mask: np.ndarray | None, queries: np.ndarray, k: int) -> list[set]:
    """Brute-force cosine top k among the products `mask` selects, per query (skus)."""
    rows = np.arange(len(data)) if mask is None else np.flatnonzero(mask)
    scores = (_unit(queries) @ data.vectors[rows].T) / data.norms[rows]
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return [{sku(int(rows[j])) for j in row} for row in top]
