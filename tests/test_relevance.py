"""Words and filters that behave as shoppers expect, on the shared 300-product fashion index:
filters forgive case, misspelt values get the closest existing ones, empty results say what
emptied them, attribute words are searched, and a photo plus a word keeps the photographed
product on top (tests/conftest.py builds the index; the fashion catalog's brand column is
`brand_guess`, mapped to `brand`).
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from support import FASHION, SEARCH_SLICE, fashion_rows, ingest, write_catalog
from visearch.plugin.params import SearchParams
from visearch.plugin.search import Searcher

pytestmark = pytest.mark.slow

ROWS = fashion_rows(SEARCH_SLICE)


def by_spelling(column: str) -> dict[str, str]:
    """Each value as stored -> the spelling most products use (a facet shows that one)."""
    counts = Counter(row[column] for row in ROWS if row[column])
    best: dict[str, str] = {}
    for value, _ in counts.most_common():
        best.setdefault(value.lower(), value)
    return {value: best[value.lower()] for value in counts}


SHOWN = {"brand": by_spelling("brand_guess"), "colour": by_spelling("colour")}
BRANDS, COLOURS = sorted(SHOWN["brand"]), sorted(SHOWN["colour"])
VALUES = [("brand", value) for value in BRANDS] + [("colour", value) for value in COLOURS]


@pytest.fixture(scope="module")
def searcher(os_client, search_alias, encoder) -> Searcher:  # noqa: ANN001
    return Searcher(os_client, search_alias, encoder)


def skus(searcher: Searcher, **params: object) -> list[str]:
    return [hit.sku for hit in searcher.search(SearchParams(k=300, **params)).hits]  # type: ignore[arg-type]


def misspelt(value: str, known: set[str]) -> str | None:
    """A typo a shopper makes: one letter dropped from the middle, or a short value's last
    letter doubled (None if that is a real value too)."""
    middle = len(value) // 2
    typo = value + value[-1] if len(value) < 4 else value[:middle] + value[middle + 1 :]
    return None if typo.lower() in {k.lower() for k in known} else typo


@pytest.mark.parametrize(("field", "value"), VALUES, ids=[f"{f}={v}" for f, v in VALUES])
def test_filter_forgives_case(searcher: Searcher, field: str, value: str) -> None:
    stored = skus(searcher, filters={field: value})
    assert stored, f"no product with {field}={value}"
    for variant in {value.lower(), value.upper(), value.swapcase()}:
        assert skus(searcher, filters={field: variant}) == stored, variant
    result = searcher.search(SearchParams(filters={field: value.lower()}, facets=(field,)))
    selected = [v for v in result.facets[field] if v.selected]
    # One entry, in the catalog's most used spelling, counting every spelling
    assert [(v.value, v.count) for v in selected] == [(SHOWN[field][value], len(stored))]
    spellings = [v.value for v in result.facets[field] if v.value.lower() == value.lower()]
    assert len(spellings) == 1
    assert result.notices == ()


@pytest.mark.parametrize(("field", "value"), VALUES, ids=[f"{f}={v}" for f, v in VALUES])
def test_misspelt_value_suggests_the_real_one(searcher: Searcher, field: str, value: str) -> None:
    typo = misspelt(value, set(BRANDS if field == "brand" else COLOURS))
    if typo is None:
        pytest.skip(f"{value!r} has no typo that is not a value itself")
    result = searcher.search(SearchParams(filters={field: typo}))
    assert result.total == 0
    [notice] = result.notices
    assert (notice.code, notice.field, notice.value) == ("unknown_value", field, typo)
    assert SHOWN[field][value] in notice.did_you_mean  # in the most used spelling
    assert f"no product has {field} {typo!r}; did you mean" in notice.message


def test_one_unknown_value_among_known_ones_still_says_so(searcher: Searcher) -> None:
    result = searcher.search(SearchParams(filters={"colour": ["Black", "Blak"]}))
    assert result.total > 0
    [notice] = result.notices
    assert notice.value == "Blak" and notice.did_you_mean[0] == "Black"


def test_empty_result_names_the_filter_that_emptied_it(searcher: Searcher) -> None:
    over = searcher.search(SearchParams(filters={"gender": "Men"}, price_min=1000))
    assert over.total == 0
    assert [(n.code, n.field) for n in over.notices] == [("no_match", "price")]
    assert "a price of at least 1000" in over.notices[0].message
    # Each filter matches on its own; together they do not.
    gender = Counter(row["gender"] for row in ROWS).most_common()[-1][0]  # the rarest
    colours = {row["colour"] for row in ROWS if row["gender"] == gender}
    never = next(c for c in COLOURS if c not in colours)
    both = searcher.search(SearchParams(filters={"gender": gender, "colour": never}))
    assert both.total == 0
    [notice] = both.notices
    assert notice.code == "no_combination" and f"gender {gender!r}" in notice.message
    words = searcher.search(SearchParams(keywords="zzzyx qqqv"))
    assert [(n.code, n.field) for n in words.notices] == [("no_match", "keywords")]


def test_price_range_on_a_catalog_without_prices_says_so(
    os_client,
    index_name,
    encoder,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    catalog = write_catalog(tmp_path / "catalog.csv", fashion_rows(5))
    ingest(os_client, catalog, index_name, encoder, images_dir=FASHION)
    result = Searcher(os_client, index_name).search(SearchParams(price_max=50))
    assert result.total == 0
    assert [(n.code, n.field) for n in result.notices] == [("missing_field", "price")]
    assert "no product in this catalog has a price" in result.notices[0].message


def test_attribute_words_are_searched(searcher: Searcher) -> None:
    """Words name attributes: every top hit for "{colour} {article type}" has both."""
    pairs = Counter((row["colour"], row["article_type"]) for row in ROWS)
    for (colour, kind), n in pairs.most_common(5):
        hits = searcher.search(SearchParams(keywords=f"{colour} {kind}".lower(), k=10)).hits
        top = hits[: min(n, 10)]
        assert all(
            (h.attributes["colour"], h.attributes["article_type"]) == (colour, kind) for h in top
        ), (colour, kind, [(h.attributes["colour"], h.attributes["article_type"]) for h in top])


def test_red_boots_are_footwear_not_handbags(searcher: Searcher) -> None:
    hits = searcher.search(SearchParams(keywords="red ankle boots", k=10)).hits
    assert hits and all(h.attributes.get("category") != "Accessories" for h in hits)
    footwear = [h for h in hits if h.attributes.get("category") == "Footwear"]
    assert footwear and footwear[0].attributes.get("colour") == "Red"


def test_a_photo_plus_a_colour_word_keeps_the_photo_first(searcher: Searcher) -> None:
    """The photographed product stays first; the rest is mostly the asked colour."""
    rng = random.Random(3)
    shirts = [r for r in ROWS if r["article_type"] == "Tshirts" and r["colour"] != "Black"]
    for row in rng.sample(shirts, 3):
        params = SearchParams(image=str(FASHION / row["image"]), keywords="black", k=10)
        hits = searcher.search(params).hits
        assert hits[0].sku == row["sku"] and hits[0].explanation.exact_match
        black = [h for h in hits[1:] if h.attributes.get("colour") == "Black"]
        assert len(black) >= 7, [h.attributes.get("colour") for h in hits]
