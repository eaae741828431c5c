"""Fusion, boosts and response parsing on hand-made hits: no server, no model."""

from __future__ import annotations

import pytest

from visearch.plugin.fusion import rrf
from visearch.plugin.params import Boosts, SearchParams
from visearch.plugin.ranking import Fusion, rank
from visearch.plugin.response import Candidate, facets, price_stats


def cands(*items: tuple[str, float], **sources: dict) -> list[Candidate]:
    return [Candidate(sku, score, sources.get(f"s{sku}", {})) for sku, score in items]


def order(ranked: list) -> list[str]:
    return [item.sku for item in ranked]


def test_rrf_sums_reciprocal_ranks_over_the_best_possible() -> None:
    fused = rrf([["a", "b", "c"], ["c", "a"]])
    best = 2 / 61
    assert fused["a"] == pytest.approx((1 / 61 + 1 / 62) / best)
    assert fused["b"] == pytest.approx((1 / 62) / best)
    assert fused["c"] == pytest.approx((1 / 63 + 1 / 61) / best)
    assert rrf([["a"], ["a"]])["a"] == pytest.approx(1.0)  # first everywhere: 1
    with pytest.raises(ValueError):
        rrf([["a"]], rank_constant=0)


def test_vector_only_orders_by_similarity_then_sku() -> None:
    ranked = rank(cands(("b", 0.9), ("c", 0.8), ("a", 0.9)), None, Boosts(), "cosinesimil")
    assert order(ranked) == ["a", "b", "c"]  # the tie 0.9 goes to the smaller sku
    first = ranked[0].explanation
    assert (first.vector_rank, first.keyword_rank, first.keyword_score) == (1, None, None)
    assert first.similarity == pytest.approx(0.8)
    assert first.fused_score == first.final_score == pytest.approx(0.8)  # the cosine


def test_keywords_only_scores_bm25_over_the_best() -> None:
    ranked = rank(None, cands(("b", 2.0), ("a", 4.0)), Boosts())
    assert order(ranked) == ["a", "b"]
    assert [r.explanation.fused_score for r in ranked] == [1.0, 0.5]
    assert ranked[0].explanation.vector_rank is None
    assert ranked[0].explanation.keyword_rank == 1 and ranked[0].explanation.keyword_match


KINDS = {
    "sa": {"article_type": "Shirts"},  # the photographed blue shirt
    "sb": {"article_type": "Shirts"},
    "sc": {"article_type": "Shirts"},  # a red shirt, far in look
    "sd": {"article_type": "Tshirts"},  # a red t-shirt, near in look
    "se": {"article_type": "Shirts"},
}


def test_hybrid_pool_adds_the_nearest_word_matches() -> None:
    """A: nearest overall; B: nearest among products matching the words (scored by look)."""
    vector = cands(("a", 1.0), ("b", 0.95), ("d", 0.9), **KINDS)
    words = cands(("d", 0.9), ("c", 0.85), **KINDS)  # c: red, too far to be in A
    fusion = Fusion("linear", 0.4, ("article_type",))
    ranked = rank(vector, words, Boosts(), "cosinesimil", fusion)
    assert set(order(ranked)) == {"a", "b", "c", "d"}
    c = next(r.explanation for r in ranked if r.sku == "c")
    assert (c.vector_rank, c.keyword_rank, c.keyword_match) == (None, 2, True)
    assert c.similarity == pytest.approx(0.7)


def test_hybrid_keeps_the_exact_match_first_and_the_words_reorder_the_rest() -> None:
    vector = cands(("a", 1.0), ("b", 0.95), ("d", 0.9), ("e", 0.88), **KINDS)
    words = cands(("d", 0.9), ("c", 0.85), **KINDS)
    ranked = rank(vector, words, Boosts(), "cosinesimil", Fusion("linear", 0.4, ("article_type",)))
    assert order(ranked)[0] == "a" and ranked[0].explanation.exact_match
    assert order(ranked)[1:3] == ["c", "d"]  # red shirt, then red t-shirt, then the blue shirts
    c, d = ranked[1].explanation, ranked[2].explanation
    assert c.kind_agreement == pytest.approx(2 / 3) and d.kind_agreement == pytest.approx(1 / 3)
    assert c.fused_score == pytest.approx(0.6 * (0.5 * 0.7 + 0.5 * 2 / 3) + 0.4)
    # Without kind attributes the nearer red t-shirt wins; with no words weight, look alone.
    plain = rank(vector, words, Boosts(), "cosinesimil", Fusion("linear", 0.4, ()))
    assert order(plain)[:3] == ["a", "d", "c"]
    look = rank(vector, words, Boosts(), "cosinesimil", Fusion("linear", 0.0, ()))
    assert order(look) == ["a", "b", "d", "e", "c"]


def test_hybrid_rrf_is_weighted_by_keyword_weight() -> None:
    vector = cands(("a", 0.9), ("b", 0.8), ("c", 0.7))
    words = cands(("c", 0.7))
    words_heavy = rank(vector, words, Boosts(), "cosinesimil", Fusion("rrf", 0.9))
    assert order(words_heavy)[0] == "c"
    look_heavy = rank(vector, words, Boosts(), "cosinesimil", Fusion("rrf", 0.0))
    assert order(look_heavy)[0] == "a"
    assert all(0 <= r.explanation.fused_score <= 1 for r in look_heavy)


def test_no_exact_match_below_the_threshold_or_without_cosine() -> None:
    vector, words = cands(("a", 0.9), ("b", 0.8)), cands(("b", 0.8))
    ranked = rank(vector, words, Boosts(), "cosinesimil", Fusion("linear", 0.4))
    assert not any(r.explanation.exact_match for r in ranked)
    assert order(ranked) == ["b", "a"]
    l2 = rank(cands(("a", 0.99), ("b", 0.5)), cands(("b", 0.5)), Boosts(), "l2", Fusion())
    assert l2[0].explanation.similarity is None and not l2[0].explanation.exact_match


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
    small = rank(vector, None, Boosts(popularity_weight=0.01), "cosinesimil")
    assert order(small) == ["a", "b", "c"]  # too small to beat a 0.2 similarity step
    big = rank(vector, None, Boosts(popularity_weight=1.0), "cosinesimil")
    assert order(big) == ["b", "c", "a"]
    boosts = {item.sku: item.explanation.popularity_boost for item in big}
    assert boosts == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert big[0].explanation.final_score == pytest.approx(0.6 + 1.0)


def test_facets_sorted_with_selected_values_always_present() -> None:
    params = SearchParams(filters={"colour": ["Teal", "red"]}, facets=("colour", "brand"))
    aggs = {
        "facet:colour": {
            "values": {
                "buckets": [{"key": "Blue", "doc_count": 5}, {"key": "Red", "doc_count": 5}]
            },
            "selected": {"buckets": {"red": {"doc_count": 5}, "Teal": {"doc_count": 0}}},
        },
        "facet:brand": {"values": {"buckets": [{"key": "Nike", "doc_count": 3}]}},
        "price": {"stats": {"count": 0, "min": None, "max": None, "avg": None}},
    }
    found = facets(aggs, params)
    colour = [(v.value, v.count, v.selected) for v in found["colour"]]
    # "red" is shown in the stored spelling; Teal, which no product has, still listed at 0
    assert colour == [("Blue", 5, False), ("Red", 5, True), ("Teal", 0, True)]
    assert [(v.value, v.count) for v in found["brand"]] == [("Nike", 3)]
    assert price_stats(aggs).count == 0 and price_stats(aggs).min is None
