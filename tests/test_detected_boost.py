"""The detected-category boost (`boosts.detected_weight`): a photo query's hits of the category
the attribute models read in the photo move up by the weight, in the ranking step (no extra
request); off by default, as bench/detected_boost.py decided (README, Attributes from photos).
Real node, real fashion photos, EfficientNet-Lite0."""

from __future__ import annotations

import pytest

from support import FASHION, attribute_rows, trained_attributes_alias
from visearch.plugin.errors import InvalidParamsError
from visearch.plugin.params import Boosts, SearchParams
from visearch.plugin.ranking import DETECTED_CONFIDENCE, detected_boosts
from visearch.plugin.search import open_searcher

pytestmark = pytest.mark.slow

K = 30


@pytest.fixture(scope="module")
def searcher(os_client, encoder, tmp_path_factory):  # noqa: ANN001, ANN201
    alias = trained_attributes_alias(os_client, encoder, tmp_path_factory.mktemp("boost"))
    return open_searcher(os_client, alias, load_encoder=lambda _: encoder)


@pytest.fixture(scope="module")
def mixed_query(searcher) -> tuple[str, str, list]:  # noqa: ANN001
    """A photo whose category is detected confidently and whose plain results mix categories
    (another category's hit above one of the detected category): the boost has work to do."""
    for row in attribute_rows()[:60]:
        photo = str(FASHION / row["image"])
        result = searcher.search(SearchParams(image=photo, k=K))
        guess = result.detected.get("category", {})
        if guess.get("confidence", 0.0) < DETECTED_CONFIDENCE:
            continue
        same = [hit.attributes.get("category") == guess["value"] for hit in result.hits]
        if any(not a and b for i, a in enumerate(same) for b in same[i + 1 :]):
            return photo, guess["value"], list(result.hits)
    pytest.fail("no photo with a confident category and mixed results among 60")


def test_the_boost_puts_the_detected_category_first(searcher, mixed_query) -> None:
    photo, category, plain = mixed_query
    weight = 1.0  # larger than any cosine gap: every hit of the category goes first
    result = searcher.search(SearchParams(image=photo, k=K, boosts=Boosts(detected_weight=weight)))
    same = [hit.attributes.get("category") == category for hit in result.hits]
    assert same == sorted(same, reverse=True)  # all of the category, then the rest
    for hit in result.hits:
        why = hit.explanation
        assert why.detected_boost == (weight if hit.attributes.get("category") == category
                                      else None)  # fmt: skip
        assert why.final_score == pytest.approx(
            (why.fused_score or 0.0) + (why.detected_boost or 0)
        )
    for part in (True, False):  # within each part, the look order is kept
        fused = [h.explanation.fused_score for h, s in zip(result.hits, same, strict=True)
                 if s is part]  # fmt: skip
        assert fused == sorted(fused, reverse=True)


def test_a_small_weight_only_reorders_near_ties(searcher, mixed_query) -> None:
    photo, category, plain = mixed_query
    result = searcher.search(SearchParams(image=photo, k=K, boosts=Boosts(detected_weight=0.02)))
    assert result.hits[0].sku == plain[0].sku  # the photographed product stays first
    assert [h.sku for h in result.hits] != [h.sku for h in plain] or all(
        h.attributes.get("category") == category for h in plain
    )


def test_the_boost_is_off_by_default(searcher, mixed_query) -> None:
    photo, _, plain = mixed_query
    assert Boosts().detected_weight == 0.0
    result = searcher.search(SearchParams(image=photo, k=K))
    assert [h.sku for h in result.hits] == [h.sku for h in plain]
    assert all(hit.explanation.detected_boost is None for hit in result.hits)


def test_no_boost_without_a_shoppers_photo(searcher, mixed_query) -> None:
    _, _, plain = mixed_query
    boosts = Boosts(detected_weight=1.0)
    alike = searcher.search(SearchParams(similar_to=plain[0].sku, k=K, boosts=boosts))
    assert alike.detected == {}  # a stored product's vector is not the shopper's photo
    assert all(hit.explanation.detected_boost is None for hit in alike.hits)


def test_an_unsure_detection_boosts_nothing() -> None:
    pool = {"a": {"category": "Footwear"}, "b": {"category": "Apparel"}}
    unsure = {"category": {"value": "Footwear", "confidence": DETECTED_CONFIDENCE - 0.01}}
    assert detected_boosts(pool, unsure, 1.0) == {}
    sure = {"category": {"value": "Footwear", "confidence": 0.97}}
    assert detected_boosts(pool, sure, 0.1) == {"a": 0.1}
    assert detected_boosts(pool, sure, 0.0) == {}
    predicted = {"c": {"predicted": {"category": {"value": "Footwear", "confidence": 0.95}}}}
    assert detected_boosts(predicted, sure, 0.1) == {"c": 0.1}  # filled as filters fill


@pytest.mark.parametrize("weight", [-0.1, float("nan"), "big", True])
def test_a_bad_weight_is_refused(weight: object) -> None:
    with pytest.raises(InvalidParamsError, match="detected_weight"):
        Boosts(detected_weight=weight)  # type: ignore[arg-type]
