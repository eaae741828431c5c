"""The search API against the real node, on 300 fashion products embedded by EfficientNet-Lite0.

The fashion catalog has no price, stock or popularity, so the slice gets deterministic
synthetic ones (from the sku) to exercise the price range, the price stats and the boosts
(the index is built once per run in tests/conftest.py and shared with the HTTP API tests).
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support import FASHION, SEARCH_SLICE, count_requests
from visearch.plugin.errors import (
    EncoderMismatchError,
    IndexNotFoundError,
    ProductNotFoundError,
    QueryImageError,
    UnknownFieldError,
    UnsupportedQueryError,
)
from visearch.plugin.params import DEFAULT_CANDIDATES, Boosts, SearchParams
from visearch.plugin.search import Searcher, open_searcher

SLICE = SEARCH_SLICE
PUMA_TSHIRT = "10045"  # "Puma Men Heroes Party Graphic Blue Tshirts"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rows(search_rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return search_rows


@pytest.fixture(scope="module")
def alias(search_alias: str) -> str:
    """The shared 300-product index (tests/conftest.py)."""
    return search_alias


@pytest.fixture(scope="module")
def searcher(os_client, alias, encoder) -> Searcher:  # noqa: ANN001
    return Searcher(os_client, alias, encoder)


def photo(sku: str) -> str:
    return str(FASHION / "images" / f"{sku}.jpg")


def csv_counts(rows: list[dict[str, str]], field: str, **where: tuple[str, ...]) -> dict:
    column = {"brand": "brand_guess"}.get(field, field)
    keep = [row for row in rows if all(row[name] in values for name, values in where.items())]
    return dict(Counter(row[column] for row in keep))


def facet_counts(result, field: str) -> dict[str, int]:  # noqa: ANN001
    return {value.value: value.count for value in result.facets[field]}


# --------------------------------------------------------------------------- relevance


@pytest.mark.parametrize("sku", ["10001", PUMA_TSHIRT, "10230"])
def test_catalog_photo_finds_itself_first(searcher: Searcher, sku: str) -> None:
    result = searcher.search(SearchParams(image=photo(sku), k=5))
    assert result.mode == "vector"
    assert result.hits[0].sku == sku
    assert result.hits[0].explanation.similarity == pytest.approx(1.0, abs=1e-4)
    assert result.hits[0].explanation.vector_rank == 1
    assert result.total == 200  # the default pool


def test_similar_to_ranks_by_the_stored_vector_without_the_product(searcher: Searcher) -> None:
    by_photo = searcher.search(SearchParams(image=photo(PUMA_TSHIRT), k=11, facets=("gender",)))
    similar = searcher.search(SearchParams(similar_to=PUMA_TSHIRT, k=10, facets=("gender",)))
    assert similar.mode == "vector"
    assert [hit.sku for hit in similar.hits] == [hit.sku for hit in by_photo.hits[1:]]
    assert PUMA_TSHIRT not in {hit.sku for hit in similar.hits}
    assert sum(v.count for v in similar.facets["gender"]) == similar.total == DEFAULT_CANDIDATES
    with pytest.raises(ProductNotFoundError, match="no product with sku 'nope'"):
        searcher.search(SearchParams(similar_to="nope"))


def test_product_by_sku(searcher: Searcher) -> None:
    product = searcher.product(PUMA_TSHIRT)
    assert product.title == "Puma Men Heroes Party Graphic Blue Tshirts"
    assert product.attributes["brand"] == "Puma" and product.image == "images/10045.jpg"
    with pytest.raises(ProductNotFoundError):
        searcher.product("nope")


def test_bytes_and_pil_queries_match_a_path_query(searcher: Searcher) -> None:
    data = Path(photo(PUMA_TSHIRT)).read_bytes()
    for image in (data, Image.open(io.BytesIO(data))):
        assert searcher.search(SearchParams(image=image, k=1)).hits[0].sku == PUMA_TSHIRT


def test_hard_filter_keeps_the_pool_full(searcher: Searcher, rows: list) -> None:
    params = SearchParams(image=photo("10001"), filters={"colour_group": "Blue"}, k=100)
    result = searcher.search(params)
    blue = csv_counts(rows, "colour_group")["Blue"]
    assert result.total == len(result.hits) == blue  # every Blue product is a candidate
    assert {hit.attributes["colour_group"] for hit in result.hits} == {"Blue"}
    # As a facet selection the same filter is a post_filter over the 100 nearest products.
    selected = searcher.search(replace(params, facets=("colour_group",)))
    assert 0 < selected.total < blue
    assert {hit.attributes["colour_group"] for hit in selected.hits} == {"Blue"}


def test_words_refine_a_photo_and_keep_the_photographed_product_first(searcher: Searcher) -> None:
    visual = searcher.search(SearchParams(image=photo(PUMA_TSHIRT), k=10))
    hybrid = searcher.search(SearchParams(image=photo(PUMA_TSHIRT), keywords="Nike", k=10))
    assert hybrid.mode == "hybrid"

    def nike(result) -> list[int]:  # noqa: ANN001
        return [rank for rank, hit in enumerate(result.hits) if hit.attributes["brand"] == "Nike"]

    assert len(nike(hybrid)) > len(nike(visual))
    assert len(nike(hybrid)) >= 8
    first = hybrid.hits[0]
    assert first.sku == PUMA_TSHIRT and first.explanation.exact_match  # the photo's product
    for hit in hybrid.hits:
        explanation = hit.explanation
        assert explanation.similarity is not None and explanation.fused_score is not None
        assert explanation.keyword_match == (hit.attributes["brand"] == "Nike")
        if explanation.keyword_match:
            assert explanation.keyword_rank is not None
    # The pool: the nearest products, plus the nearest Nike products beyond them.
    assert hybrid.total >= visual.total == DEFAULT_CANDIDATES


def test_keywords_only_counts_every_match(searcher: Searcher, rows: list) -> None:
    result = searcher.search(SearchParams(keywords="Nike", k=50, facets=("brand",)))
    titles = sum("nike" in row["title"].lower().split() for row in rows)
    assert result.mode == "keywords" and result.total == titles == len(result.hits)
    assert facet_counts(result, "brand")["Nike"] == csv_counts(rows, "brand")["Nike"]


def test_min_score_applies_to_hits_total_and_facets(searcher: Searcher) -> None:
    params = SearchParams(image=photo(PUMA_TSHIRT), min_score=0.45, k=100, facets=("gender",))
    result = searcher.search(params)
    assert 0 < result.total < 100
    assert all(hit.explanation.similarity >= 0.45 - 1e-6 for hit in result.hits)
    assert sum(facet_counts(result, "gender").values()) == result.total == len(result.hits)


# --------------------------------------------------------------------------- facets


SELECTED = {"colour_group": ("Blue",), "gender": ("Men",)}
HARD = {"category": ("Apparel", "Footwear")}
FACETS = ("colour_group", "gender", "article_type")


@pytest.mark.parametrize("query", ["browse", "image"])
def test_multi_select_facet_counts_equal_csv_counts(
    searcher: Searcher, rows: list, query: str
) -> None:
    params = SearchParams(
        image=photo(PUMA_TSHIRT) if query == "image" else None,
        filters={**HARD, **SELECTED},
        facets=FACETS,
        facet_size=100,
        candidates=SLICE,
        k=100,
    )
    result = searcher.search(params)
    # Each facet honours every other selection (and the hard filter), not its own.
    assert facet_counts(result, "colour_group") == csv_counts(
        rows, "colour_group", gender=("Men",), **HARD
    )
    assert facet_counts(result, "gender") == csv_counts(
        rows, "gender", colour_group=("Blue",), **HARD
    )
    everything = csv_counts(rows, "article_type", **SELECTED, **HARD)
    assert facet_counts(result, "article_type") == everything
    assert result.total == sum(everything.values()) == len(result.hits)
    assert {(h.attributes["colour_group"], h.attributes["gender"]) for h in result.hits} == {
        ("Blue", "Men")
    }
    selected = {(f, v.value) for f in FACETS for v in result.facets[f] if v.selected}
    assert selected == {("colour_group", "Blue"), ("gender", "Men")}
    assert result.price is not None and result.price.count == result.total


def test_price_range_and_stats(searcher: Searcher, rows: list) -> None:
    params = SearchParams(image=photo("10001"), price_min=20, price_max=40, candidates=SLICE, k=100)
    result = searcher.search(params)
    expected = sum(20 <= float(row["price"]) <= 40 for row in rows)
    assert result.total == expected == result.price.count
    assert all(20 <= hit.price <= 40 for hit in result.hits)
    assert 20 <= result.price.min <= result.price.max <= 40


# --------------------------------------------------------------------------- boosts


def test_in_stock_first_and_popularity(searcher: Searcher) -> None:
    plain = searcher.search(SearchParams(image=photo(PUMA_TSHIRT), k=100, candidates=100))
    partitioned = searcher.search(
        SearchParams(
            image=photo(PUMA_TSHIRT), k=100, candidates=100, boosts=Boosts(in_stock_first=True)
        )
    )
    flags = [hit.in_stock for hit in partitioned.hits]
    assert flags == sorted(flags, reverse=True) and flags[0] and not flags[-1]
    for part in (True, False):  # fused (vector) order kept within each part
        ranks = [h.explanation.vector_rank for h in partitioned.hits if h.in_stock is part]
        assert ranks == sorted(ranks)
    assert {h.sku for h in partitioned.hits} == {h.sku for h in plain.hits}

    popular = searcher.search(
        SearchParams(
            image=photo(PUMA_TSHIRT), k=100, candidates=100, boosts=Boosts(popularity_weight=1000)
        )
    )
    values = [hit.popularity for hit in popular.hits]
    assert values == sorted(values, reverse=True)


def test_browse_is_sorted_by_the_boosts_then_sku(searcher: Searcher) -> None:
    params = SearchParams(
        filters={"gender": "Women"}, k=100, boosts=Boosts(in_stock_first=True, popularity_weight=1)
    )
    hits = searcher.search(params).hits
    keys = [(not hit.in_stock, -hit.popularity, hit.sku) for hit in hits]
    assert keys == sorted(keys)


# --------------------------------------------------------------------------- paging


def walk(searcher: Searcher, params: SearchParams) -> list[str]:
    """Every page until the first empty one."""
    seen: list[str] = []
    for page in range(SLICE + 1):
        hits = searcher.search(params.with_page(page)).hits
        if not hits:
            return seen
        seen += [hit.sku for hit in hits]
    raise AssertionError("paging never ended")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # The default pool is fixed, so paging walks exactly that pool.
        (SearchParams(image=photo("10001"), k=50), DEFAULT_CANDIDATES),
        # Fusion and boosts re-rank the pool: a fixed pool keeps the pages disjoint.
        (SearchParams(image=photo("10001"), keywords="black shoes", k=75, candidates=SLICE), SLICE),
        (
            SearchParams(
                image=photo("10001"),
                k=25,
                candidates=120,
                boosts=Boosts(in_stock_first=True, popularity_weight=1),
            ),
            120,
        ),
        (
            SearchParams(
                keywords="men", k=30, candidates=SLICE, boosts=Boosts(in_stock_first=True)
            ),
            None,
        ),
        (SearchParams(in_stock=True, k=64, boosts=Boosts(popularity_weight=1)), None),
    ],
    ids=["vector", "hybrid", "vector-boosted", "keywords-boosted", "browse"],
)
def test_pages_never_repeat_a_product(
    searcher: Searcher, params: SearchParams, expected: int | None
) -> None:
    seen = walk(searcher, params)
    assert len(seen) == len(set(seen))
    assert len(seen) == (expected or searcher.search(params).total)


# --------------------------------------------------------------------------- errors


def test_unknown_filter_lists_the_valid_fields(searcher: Searcher) -> None:
    with pytest.raises(UnknownFieldError) as caught:
        searcher.search(SearchParams(image=photo("10001"), filters={"color": "Blue"}))
    assert "unknown filter field 'color'" in str(caught.value)
    assert {"colour", "colour_group", "brand", "gender", "article_type"} <= set(caught.value.valid)
    assert "sku" not in caught.value.valid and "photos" not in caught.value.valid


def test_text_query_against_an_image_only_encoder(searcher: Searcher) -> None:
    with pytest.raises(UnsupportedQueryError, match="'efficientnet-lite0' embeds images only"):
        searcher.search(SearchParams(text="red summer dress"))


def test_query_image_errors_name_the_image(searcher: Searcher, tmp_path: Path) -> None:
    with pytest.raises(QueryImageError, match="file not found"):
        searcher.search(SearchParams(image=str(tmp_path / "missing.jpg")))
    with pytest.raises(QueryImageError, match="not an image"):
        searcher.search(SearchParams(image=b"<html>nope</html>"))


class OtherEncoder:
    name, dim, supports_text = "clip:other", 1280, True

    def embed_images(self, images: list) -> np.ndarray:
        return np.ones((len(images), self.dim), dtype=np.float32)

    embed_texts = embed_images


def test_index_from_another_encoder_is_refused(os_client, alias) -> None:  # noqa: ANN001
    with pytest.raises(EncoderMismatchError, match="built with encoder 'efficientnet-lite0'"):
        Searcher(os_client, alias, OtherEncoder()).search(SearchParams(text="shoe"))


# --------------------------------------------------------------------------- requests


def test_each_search_is_one_http_request(os_client, alias, encoder, monkeypatch) -> None:  # noqa: ANN001
    calls = count_requests(os_client, monkeypatch)
    fresh = Searcher(os_client, alias, encoder)
    fresh.search(SearchParams(keywords="shoe"))
    # The mapping and the attribute values (for words and filters) are read once, then cached.
    expected = [f"/{alias}/_mapping", f"/{alias}/_search", f"/{alias}/_search"]
    assert calls == expected
    modes = {
        "vector": SearchParams(image=photo("10001"), facets=("brand",)),
        "hybrid": SearchParams(image=photo("10001"), keywords="shoe", filters={"gender": "Men"}),
        "keywords": SearchParams(keywords="shoe", facets=("brand",)),
        "browse": SearchParams(filters={"gender": "Men"}, facets=("brand",)),
    }
    for mode, params in modes.items():
        calls.clear()
        result = fresh.search(params)
        assert result.mode == mode
        endpoint = "_msearch" if mode == "hybrid" else "_search"
        assert calls == [f"/{alias}/{endpoint}"], mode
        assert result.timings.total_ms >= result.timings.opensearch_ms > 0
        json.dumps(result.as_dict())  # ready for the CLI and the HTTP service
    calls.clear()
    with pytest.raises(UnknownFieldError):
        fresh.search(SearchParams(keywords="shoe", facets=("nope",)))
    assert calls == []  # refused before any request


def test_filter_values_are_literal(searcher: Searcher) -> None:
    nasty = ["N*ke", "Nike OR Puma", 'Levi"s', "*"]
    result = searcher.search(SearchParams(filters={"brand": nasty}, facets=("brand",)))
    assert result.total == 0
    counts = {value.value: (value.count, value.selected) for value in result.facets["brand"]}
    assert all(counts[value] == (0, True) for value in nasty)
    assert counts["Nike"][0] > 0


def test_missing_alias(os_client) -> None:  # noqa: ANN001
    with pytest.raises(IndexNotFoundError, match="no index or alias named 'test-nothing-here'"):
        Searcher(os_client, "test-nothing-here").search(SearchParams(keywords="x"))


def test_open_searcher_reads_the_index_encoder_once(os_client, alias, encoder, monkeypatch) -> None:  # noqa: ANN001
    calls = count_requests(os_client, monkeypatch)
    asked: list[str] = []

    def load(spec: str) -> object:
        asked.append(spec)
        return encoder

    searcher = open_searcher(os_client, alias, load_encoder=load, default="clip:never")
    assert asked == ["efficientnet-lite0"] and searcher.encoder is encoder
    searcher.search(SearchParams(image=photo("10001"), k=3))
    assert calls == [f"/{alias}/_mapping", f"/{alias}/_search"]  # the mapping is read once
    with pytest.raises(dataclasses.FrozenInstanceError):
        searcher.encoder = None  # type: ignore[misc]
    open_searcher(os_client, alias, load_encoder=load, requested="clip:asked-for")
    assert asked[-1] == "clip:asked-for"  # what the caller asks for wins
    keyword_only = open_searcher(os_client, alias)
    assert keyword_only.encoder is None and keyword_only.search(SearchParams(keywords="shoe")).hits
