"""Fusion, boosts and response parsing on hand-made hits: no server, no model."""

from __future__ import annotations

import pytest

from visearch.plugin.fusion import rrf
from visearch.plugin.params import Boosts, SearchParams
from visearch.plugin.ranking import rank
from visearch.plugin.response import Candidate, facets, price_stats


def cands(*items: tuple[str, float], **sources: dict) -> list[Candidate]:
    return [Candidate(sku, score, sources.get(f"s{sku}", {})) for sku, score in items]


def order(ranked: list) -> list[str]:
    return [item.sku for item in ranked]


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = rrf([["a", "b", "c"], ["c", "a"]])
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    with pytest.raises(ValueError):
        rrf([["a"]], rank_constant=0)


def test_vector_only_orders_by_score_then_sku() -> None:
    ranked = rank(cands(("b", 0.9), ("c", 0.8), ("a", 0.9)), None, Boosts(), "cosinesimil")
    assert order(ranked) == ["a", "b", "c"]  # the tie 0.9 goes to the smaller sku
    first = ranked[0].explanation
    assert (first.vector_rank, first.keyword_rank, first.keyword_score) == (1, None, None)
    assert first.similarity == pytest.approx(0.8)
    assert first.fused_score == first.final_score == pytest.approx(1 / 61)


def test_hybrid_fuses_and_ignores_keyword_hits_outside_the_pool() -> None:
    vector = cands(("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6))
    keyword = cands(("z", 9.0), ("d", 5.0), ("c", 4.0))  # z: dropped by min_score, say
    ranked = rank(vector, keyword, Boosts(), "cosinesimil")
    assert order(ranked) == ["d", "c", "a", "b"]
    d = ranked[0].explanation
    assert (d.vector_rank, d.keyword_rank, d.keyword_score) == (4, 1, 5.0)
    assert d.fused_score == pytest.approx(1 / 64 + 1 / 61)
    assert ranked[2].explanation.keyword_rank is None  # a: vector term only
    assert "z" not in order(ranked)


def test_in_stock_first_is_a_stable_partition() -> None:
    stock = {
        "sa": {"in_stock": False},
        "sb": {"in_stock": True},
        "sc": {},
        "sd": {"in_stock": True},
    }
    vector = cands(("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6), **stock)
    ranked = rank(vector, None, Boosts(in_stock_first=True))
    assert order(ranked) == ["b", "d", "a", "c"]  # unknown stock counts as out of stock


def test_popularity_is_min_max_normalised_over_the_pool() -> None:
    popularity = {"sa": {"popularity": 10}, "sb": {"popularity": 30}, "sc": {"popularity": 20}}
    vector = cands(("a", 0.9), ("b", 0.8), ("c", 0.7), **popularity)
    small = rank(vector, None, Boosts(popularity_weight=0.0001))
    assert order(small) == ["a", "b", "c"]  # too small to beat a rank step
    big = rank(vector, None, Boosts(popularity_weight=1.0))
    assert order(big) == ["b", "c", "a"]
    boosts = {item.sku: item.explanation.popularity_boost for item in big}
    assert boosts == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert big[0].explanation.final_score == pytest.approx(1 / 62 + 1.0)


def test_keywords_only_ranks_the_keyword_list() -> None:
    ranked = rank(None, cands(("b", 2.0), ("a", 3.0)), Boosts())
    assert order(ranked) == ["a", "b"]
    assert ranked[0].explanation.vector_rank is None
    assert ranked[0].explanation.keyword_rank == 1


def test_facets_sorted_with_selected_values_always_present() -> None:
    params = SearchParams(filters={"colour": ["Teal", "Red"]}, facets=("colour", "brand"))
    aggs = {
        "facet:colour": {
            "values": {
                "buckets": [{"key": "Blue", "doc_count": 5}, {"key": "Red", "doc_count": 5}]
            },
            "selected": {"buckets": [{"key": "Red", "doc_count": 5}]},
        },
        "facet:brand": {"values": {"buckets": [{"key": "Nike", "doc_count": 3}]}},
        "price": {"stats": {"count": 0, "min": None, "max": None, "avg": None}},
    }
    found = facets(aggs, params)
    colour = [(v.value, v.count, v.selected) for v in found["colour"]]
    assert colour == [("Blue", 5, False), ("Red", 5, True), ("Teal", 0, True)]
    assert [(v.value, v.count) for v in found["brand"]] == [("Nike", 3)]
    assert price_stats(aggs).count == 0 and price_stats(aggs).min is None
