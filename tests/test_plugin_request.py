"""Request builders as golden dicts: no server, no model."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from visearch.mappings.install import IndexSpec, template_body
from visearch.plugin.errors import (
    EncoderMismatchError,
    InvalidParamsError,
    UnknownFieldError,
    UnsupportedQueryError,
)
from visearch.plugin.keyword import Vocabulary
from visearch.plugin.knn import MAX_K, candidates, overall_look_field
from visearch.plugin.params import Boosts, SearchParams
from visearch.plugin.query_vector import check_encoder, embed_query
from visearch.plugin.request import SCORE_THEN_SKU, build_request, hit_fields
from visearch.plugin.schema import IndexSchema

DIM = 4
VECTOR = [0.5, 0.5, 0.5, 0.5]
WORDS = {
    "type": "cross_fields",
    "fields": ["title^2", "attributes_text^1.5", "description^0.5"],
    "minimum_should_match": "2<-34%",
}
VALID = (
    "article_type, brand, category, colour, colour_group, gender, material, season, "
    "subcategory, usage"
)


def schema(encoder: str = "fake-encoder") -> IndexSchema:
    """The schema of an index built from the real template, with one extra attribute (mapped
    the way the template's dynamic rule maps it)."""
    spec = IndexSpec(alias="products", encoder=encoder, dim=DIM)
    mappings = template_body(spec)["template"]["mappings"]
    rules = {name: rule for entry in mappings["dynamic_templates"] for name, rule in entry.items()}
    mappings["properties"]["material"] = rules["extra_attributes_as_keywords"]["mapping"]
    return IndexSchema.from_mapping("products", {"products-v1": {"mappings": mappings}})


def body(params: SearchParams, vector: list[float] | None = VECTOR) -> list[dict]:
    plan = build_request(params, schema(), vector if params.has_vector_query else None)
    return list(plan.searches)


def facet(name: str, size: int = 50, others: dict | None = None) -> dict:
    return {
        "filter": others or {"match_all": {}},
        "aggs": {
            "values": {
                "terms": {
                    "field": name,
                    "size": size,
                    "order": [{"_count": "desc"}, {"_key": "asc"}],
                }
            }
        },
    }


def price(selected: dict | None = None) -> dict:
    return {
        "filter": selected or {"match_all": {}},
        "aggs": {"stats": {"stats": {"field": "price"}}},
    }


# --------------------------------------------------------------------------- schema


def test_schema_from_real_template() -> None:
    found = schema()
    assert ", ".join(found.keyword_fields) == VALID  # no sku, image, or ingest bookkeeping
    assert (found.encoder, found.dim, found.space_type) == ("fake-encoder", DIM, "cosinesimil")


# --------------------------------------------------------------------------- vector


def nested_knn(body: dict) -> dict:
    """Photos are nested: products are scored by their best photo. Each shard's graph search
    explores twice the k it returns."""
    explored = {"method_parameters": {"ef_search": 2 * body["k"]}}
    return {
        "nested": {
            "path": "photos",
            "score_mode": "max",
            "query": {"knn": {"photos.vector": {**body, **explored}}},
        }
    }


def knn_body(query: dict) -> dict:
    return query["nested"]["query"]["knn"]["photos.vector"]


def test_only_a_reordered_pool_is_fetched_whole() -> None:
    """A look search fetches the pages up to the one asked for, unless words, a re-ranker or
    a business boost reorder the pool: then all N products travel."""
    page = build_request(SearchParams(image="x.jpg", k=10, page=2), schema(), VECTOR)
    assert page.page_only and page.searches[0]["size"] == 30
    assert page.searches[0]["sort"] == SCORE_THEN_SKU
    reordered = [
        build_request(SearchParams(image="x.jpg", k=10), schema(), VECTOR, reranking=True),
        *(
            build_request(SearchParams(image="x.jpg", k=10, boosts=boost), schema(), VECTOR)
            for boost in (
                Boosts(in_stock_first=True),
                Boosts(popularity_weight=0.1),
                Boosts(detected_weight=0.1),
            )
        ),
        build_request(SearchParams(image="x.jpg", k=10, keywords="red"), schema(), VECTOR),
    ]
    for plan in reordered:
        assert not plan.page_only
        assert all(b["size"] == 200 and "sort" not in b for b in plan.searches)


def test_knn_carries_hard_filters_inside() -> None:
    params = SearchParams(
        image="shoe.jpg", filters={"colour_group": "Blue", "gender": ["Men", "Unisex"]},
        price_min=10, price_max=50.5, in_stock=True, k=10,
    )  # fmt: skip
    (search,) = body(params)
    assert search == {
        "size": 10,  # the page: nothing reorders the pool of 200 (the knn's k)
        "sort": SCORE_THEN_SKU,  # scores come with a sort that starts with them
        "query": nested_knn(
            {
                "vector": VECTOR,
                "k": 200,
                "filter": {
                    "bool": {
                        "filter": [
                            {"term": {"colour_group.ci": "Blue"}},
                            {"terms": {"gender.ci": ["Men", "Unisex"]}},
                            {"range": {"price": {"gte": 10, "lte": 50.5}}},
                            {"term": {"in_stock": True}},
                        ]
                    }
                },
            }
        ),
        "aggs": {"price": price()},
        **hit_fields(schema()),
        "script_fields": overall_look_field(VECTOR),  # each hit's overall look
    }


def test_each_shard_explores_more_candidates_than_it_returns() -> None:
    """HNSW's ef_search: twice the k, at most MAX_K; none on a quantized index, whose k is
    already widened and rescored."""
    assert candidates(200) == 400 and candidates(10) == 20
    assert candidates(6000) == MAX_K and candidates(MAX_K) == MAX_K
    (search,) = body(SearchParams(image="x.jpg", candidates=300))
    assert knn_body(search["query"])["method_parameters"] == {"ef_search": 600}
    quantized = replace(schema(), quantized=True)
    (search,) = build_request(SearchParams(image="x.jpg"), quantized, VECTOR).searches
    assert "method_parameters" not in knn_body(search["query"])


def test_knn_without_filters_has_no_filter_key() -> None:
    (search,) = body(SearchParams(text="red dress", candidates=300))
    assert search["query"] == nested_knn({"vector": VECTOR, "k": 300})
    assert "post_filter" not in search


def test_similar_to_leaves_the_product_out_of_its_own_pool() -> None:
    (search,) = body(SearchParams(similar_to="10045", filters={"gender": "Men"}, candidates=50))
    assert search["query"] == nested_knn(
        {
            "vector": VECTOR,
            "k": 50,
            "filter": {
                "bool": {
                    "filter": [
                        {"term": {"gender.ci": "Men"}},
                        {
                            "bool": {
                                "filter": [{"range": {"photo_count": {"gte": 1}}}],
                                "must_not": [{"term": {"sku": "10045"}}],
                            }
                        },
                    ]
                }
            },
        }
    )


def test_facets_alone_browse_the_whole_catalog() -> None:
    (search,) = body(SearchParams(facets=("brand",), k=5))
    assert search["query"] == {"match_all": {}}
    assert search["size"] == 5 and "facet:brand" in search["aggs"]


def test_vector_is_sent_as_plain_floats() -> None:
    params = SearchParams(image="shoe.jpg")
    plan = build_request(params, schema(), np.array(VECTOR, dtype=np.float32))
    json.dumps(plan.searches)  # numpy scalars would not serialise
    assert knn_body(plan.searches[0]["query"])["vector"] == VECTOR


def test_min_score_is_a_cosine_turned_into_a_lucene_score() -> None:
    (search,) = body(SearchParams(image="shoe.jpg", min_score=0.5))
    assert search["min_score"] == 0.75  # lucene cosinesimil: (1 + cos) / 2


def test_default_pool_grows_with_the_page() -> None:
    assert SearchParams(image="x.jpg").pool_size == 200
    assert SearchParams(image="x.jpg", k=30, page=4).pool_size == 200  # the same pool per page
    assert SearchParams(image="x.jpg", k=30, page=4, candidates=40).pool_size == 40


# --------------------------------------------------------------------------- facets


def test_facet_selections_go_to_post_filter_and_other_facets_aggs() -> None:
    params = SearchParams(
        image="shoe.jpg",
        filters={"colour_group": ["Blue", "Red"], "gender": "Men", "category": "Footwear"},
        facets=("colour_group", "gender", "brand"),
        k=10,
    )
    (search,) = body(params)
    colour = {"terms": {"colour_group.ci": ["Blue", "Red"]}}
    gender = {"term": {"gender.ci": "Men"}}
    # Only the non-facet filter is hard, inside the knn clause.
    knn = knn_body(search["query"])
    assert knn["filter"] == {"bool": {"filter": [{"term": {"category.ci": "Footwear"}}]}}
    assert search["post_filter"] == {"bool": {"filter": [colour, gender]}}
    colour_agg = facet("colour_group", others={"bool": {"filter": [gender]}})
    colour_agg["aggs"]["selected"] = {
        "filters": {
            "filters": {
                "Blue": {"term": {"colour_group.ci": "Blue"}},
                "Red": {"term": {"colour_group.ci": "Red"}},
            }
        }
    }
    gender_agg = facet("gender", others={"bool": {"filter": [colour]}})
    gender_agg["aggs"]["selected"] = {"filters": {"filters": {"Men": gender}}}
    assert search["aggs"] == {
        "facet:colour_group": colour_agg,
        "facet:gender": gender_agg,
        "facet:brand": facet("brand", others={"bool": {"filter": [colour, gender]}}),
        "price": price({"bool": {"filter": [colour, gender]}}),
    }


def test_facet_size_is_passed_on() -> None:
    (search,) = body(SearchParams(filters={"brand": "Nike"}, facets=("colour",), facet_size=7))
    assert search["aggs"]["facet:colour"] == facet("colour", size=7)


# --------------------------------------------------------------------------- hybrid


def test_hybrid_is_one_msearch_of_the_pool_and_the_nearest_word_matches() -> None:
    params = SearchParams(
        image="shoe.jpg", keywords="running shoe", filters={"gender": "Men", "brand": "Nike"},
        facets=("brand",), k=20, page=1, min_score=0.2,
    )  # fmt: skip
    plan = build_request(params, schema(), VECTOR)
    assert plan.mode == "hybrid"
    lines = plan.msearch_body()
    assert [lines[0], lines[2]] == [{}, {}]
    vector, words = lines[1], lines[3]
    men = {"term": {"gender.ci": "Men"}}
    knn = nested_knn({"vector": VECTOR, "k": 200, "filter": {"bool": {"filter": [men]}}})
    selected = {"bool": {"filter": [{"term": {"brand.ci": "Nike"}}]}}
    assert vector["query"] == knn
    assert vector["size"] == 200 and vector["post_filter"] == selected
    assert vector["min_score"] == pytest.approx(0.6)
    assert set(vector["aggs"]) == {"facet:brand", "price"}
    # B: the same knn, with the words added to its filter: the 200 nearest word matches.
    matching = {"multi_match": {"query": "running shoe", **WORDS}}
    assert words == {
        "size": 200,
        "query": nested_knn(
            {"vector": VECTOR, "k": 200, "filter": {"bool": {"filter": [men, matching]}}}
        ),
        "post_filter": selected,
        "min_score": pytest.approx(0.6),
        **hit_fields(schema()),
        "script_fields": overall_look_field(VECTOR),
    }


def test_hybrid_names_the_attributes_its_words_name() -> None:
    vocabulary = Vocabulary.from_values({"colour": ["Red"], "article_type": ["Shirts"]})
    params = SearchParams(image="shoe.jpg", keywords="red shirts")
    plan = build_request(params, schema(), VECTOR, vocabulary)
    assert plan.named == {"colour", "article_type"}
    words = knn_body(plan.searches[1]["query"])["filter"]["bool"]["filter"][0]
    assert {"term": {"colour.ci": {"value": "Red", "boost": 4.0}}} in words["bool"]["should"]


def test_keywords_only_is_bm25_over_hard_filters() -> None:
    params = SearchParams(keywords="nike", filters={"gender": "Men"}, price_max=80)
    plan = build_request(params, schema())
    assert plan.mode == "keywords"
    assert plan.searches == (
        {
            "size": 200,
            "query": {
                "bool": {
                    "must": [{"multi_match": {"query": "nike", **WORDS}}],
                    "filter": [{"term": {"gender.ci": "Men"}}, {"range": {"price": {"lte": 80}}}],
                }
            },
            "sort": [{"_score": {"order": "desc"}}, {"sku": {"order": "asc"}}],
            "track_total_hits": True,
            "aggs": {"price": price()},
            **hit_fields(schema()),
        },
    )


def test_browse_sorts_by_the_boosts_then_sku_and_pages_on_the_server() -> None:
    params = SearchParams(
        filters={"gender": "Women"}, k=24, page=2,
        boosts=Boosts(in_stock_first=True, popularity_weight=0.01),
    )  # fmt: skip
    (search,) = body(params)
    assert search == {
        "from": 48,
        "size": 24,
        "query": {"bool": {"filter": [{"term": {"gender.ci": "Women"}}]}},
        "sort": [
            {"in_stock": {"order": "desc", "missing": 0, "unmapped_type": "boolean"}},
            {"popularity": {"order": "desc", "missing": 0, "unmapped_type": "double"}},
            {"sku": {"order": "asc"}},
        ],
        "track_total_hits": True,
        "aggs": {"price": price()},
        **hit_fields(schema()),
    }
    plain = body(SearchParams(in_stock=False))[0]
    assert plain["sort"] == [{"sku": {"order": "asc"}}]
    assert plain["query"] == {"bool": {"filter": [{"term": {"in_stock": False}}]}}


# --------------------------------------------------------------------------- safety


@pytest.mark.parametrize("mode", ["vector", "keywords", "browse"])
def test_values_stay_literal_terms(mode: str) -> None:
    nasty = ['Levi"s', "N*ke", "Nike OR brand:*", "a\\b", "(x) AND y"]
    params = SearchParams(
        image="x.jpg" if mode == "vector" else None,
        keywords='"shoe" OR * AND brand:x' if mode == "keywords" else None,
        filters={"brand": nasty, "colour": "Blue OR Red"},
        facets=("brand",),
    )
    (search, *_) = body(params)
    assert search["post_filter"] == {"bool": {"filter": [{"terms": {"brand.ci": nasty}}]}}
    selected = search["aggs"]["facet:brand"]["aggs"]["selected"]["filters"]["filters"]
    assert selected == {value: {"term": {"brand.ci": value}} for value in nasty}
    text = json.dumps(search)
    assert '{"term": {"colour.ci": "Blue OR Red"}}' in text
    assert "query_string" not in text and "wildcard" not in text and "regexp" not in text
    if mode == "keywords":
        must = search["query"]["bool"]["must"]
        assert must == [{"multi_match": {"query": '"shoe" OR * AND brand:x', **WORDS}}]


def test_unknown_filter_field_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownFieldError) as caught:
        body(SearchParams(filters={"color": "Blue"}))
    assert caught.value.field == "color"
    assert str(caught.value) == f"unknown filter field 'color'; valid fields: {VALID}"
    assert isinstance(caught.value, ValueError)


def test_unknown_facet_and_internal_fields_are_refused() -> None:
    with pytest.raises(UnknownFieldError, match="unknown facet field 'size'"):
        body(SearchParams(keywords="x", facets=("size",)))
    for internal in ("photos", "doc_hash", "sku", "image", "title"):
        with pytest.raises(UnknownFieldError):
            body(SearchParams(filters={internal: "x"}))
    with pytest.raises(UnknownFieldError, match="use price_min/price_max or in_stock"):
        body(SearchParams(filters={"price": "10"}))


def test_vector_must_match_the_query_and_the_index() -> None:
    with pytest.raises(InvalidParamsError, match="exactly when"):
        build_request(SearchParams(image="x.jpg"), schema(), None)
    with pytest.raises(InvalidParamsError, match="exactly when"):
        build_request(SearchParams(keywords="x"), schema(), VECTOR)
    with pytest.raises(InvalidParamsError, match="3 dimensions"):
        build_request(SearchParams(image="x.jpg"), schema(), [1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "nothing to search for"),
        ({"facets": ()}, "nothing to search for"),
        ({"similar_to": "10001", "image": "x.jpg"}, "give no image or text with it"),
        ({"keywords": "   "}, "nothing to search for"),
        ({"keywords": "x", "min_score": 0.5}, "min_score needs an image or text"),
        ({"image": "x.jpg", "min_score": 1.5}, "min_score is a cosine similarity"),
        ({"keywords": "x", "price_min": 50, "price_max": 10}, "greater than price_max"),
        ({"keywords": "x", "price_min": float("nan")}, "price_min must be a finite"),
        ({"keywords": "x", "k": 0}, "k must be an integer"),
        ({"keywords": "x", "k": True}, "k must be an integer"),
        ({"keywords": "x", "page": -1}, "page must be an integer"),
        ({"keywords": "x", "k": 100, "page": 100}, "ends past result 10000"),
        ({"image": "x.jpg", "candidates": 10001}, "candidates must be an integer"),
        ({"image": "x.jpg", "image_weight": 0}, "weights of the given image/text are all 0"),
        ({"image": "x", "text": "y", "image_weight": 0, "text_weight": 0}, "all 0"),
        ({"image": "x", "text_weight": -1}, "text_weight must be a finite number >= 0"),
        ({"image": 42}, "image must be a path"),
        ({"image": b""}, "image bytes are empty"),
        ({"image": " "}, "image path or URL is empty"),
        ({"filters": {"brand": []}}, "filter 'brand' has no values"),
        ({"filters": {"brand": ""}}, "filter 'brand' has an empty value"),
        ({"filters": {"brand": True}}, "values are strings"),
        ({"filters": {"brand": 1.5}}, "values are strings"),
        ({"filters": ["brand"]}, "filters must be a mapping"),
        ({"keywords": "x", "facets": "brand"}, "facets must be a list"),
        ({"keywords": "x", "in_stock": "yes"}, "in_stock must be"),
        ({"keywords": "x", "boosts": {"stock": True}}, "unknown boosts"),
        ({"keywords": "x", "boosts": {"popularity_weight": -1}}, "must not be negative"),
        ({"keywords": "x", "facet_size": 0}, "facet_size must be"),
    ],
)
def test_argument_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidParamsError, match=message):
        SearchParams(**kwargs)


def test_accepted_inputs_are_normalised() -> None:
    params = SearchParams(
        image=Image.new("RGB", (4, 4)),
        text="",
        filters={"brand": ("Nike", "Nike", 42), "colour": {"Red", "Blue"}},
        facets=["brand", "brand"],
        boosts={"in_stock_first": True},
    )
    assert params.text is None and params.mode == "vector"
    assert dict(params.filters) == {"brand": ("Nike", "42"), "colour": ("Blue", "Red")}
    assert params.facets == ("brand",)
    assert params.boosts == Boosts(in_stock_first=True)
    with pytest.raises(TypeError):
        params.filters["brand"] = ("x",)  # type: ignore[index]


def test_builders_return_new_objects() -> None:
    base = SearchParams(keywords="shoe", filters={"brand": "Nike"}, page=3)
    narrowed = base.with_filter("colour", ["Red"])
    assert dict(base.filters) == {"brand": ("Nike",)} and base.page == 3
    assert dict(narrowed.filters) == {"brand": ("Nike",), "colour": ("Red",)}
    assert narrowed.page == 0  # new filters, first page
    assert dict(narrowed.without_filter("brand").filters) == {"colour": ("Red",)}
    assert base.with_page(4).page == 4 and base.page == 3
    with pytest.raises(InvalidParamsError):
        replace(base, k=-1)


# --------------------------------------------------------------------------- encoder


class FakeEncoder:
    """Fixed vectors; enough to test the checks and the blend without a model."""

    def __init__(self, name: str = "fake-encoder", dim: int = DIM, text: bool = True) -> None:
        self.name, self.dim, self.supports_text = name, dim, text

    def embed_images(self, images: list) -> np.ndarray:
        return np.tile(np.eye(self.dim, dtype=np.float32)[0], (len(images), 1))

    def embed_texts(self, texts: list) -> np.ndarray:
        return np.tile(np.eye(self.dim, dtype=np.float32)[1], (len(texts), 1))


def test_text_query_needs_a_text_encoder() -> None:
    params = SearchParams(text="red dress")
    with pytest.raises(UnsupportedQueryError, match="embeds images only"):
        check_encoder(params, schema(), FakeEncoder(text=False))
    with pytest.raises(UnsupportedQueryError, match="need an encoder"):
        check_encoder(params, schema(), None)
    image_only = FakeEncoder(text=False)
    assert check_encoder(SearchParams(image="x"), schema(), image_only) is image_only


def test_index_built_by_another_encoder_is_refused() -> None:
    params = SearchParams(image="x.jpg")
    with pytest.raises(EncoderMismatchError, match="built with encoder 'clip:ViT-B-32'"):
        check_encoder(params, schema("clip:ViT-B-32"), FakeEncoder())
    with pytest.raises(EncoderMismatchError, match="8 dimensions, the index has 4"):
        check_encoder(params, schema(), FakeEncoder(dim=8))


def test_image_and_text_blend() -> None:
    image = Image.new("RGB", (4, 4))
    vector = embed_query(FakeEncoder(), image, "but red", image_weight=3, text_weight=4)
    np.testing.assert_allclose(vector, [0.6, 0.8, 0, 0], atol=1e-6)
    alone = embed_query(FakeEncoder(), image, None)
    np.testing.assert_allclose(alone, [1, 0, 0, 0])


def predicted_schema() -> IndexSchema:
    """`schema()` after `visearch attributes train` wrote colour predictions."""
    plain = schema()
    return replace(plain, predicted_fields=("colour_group",))


def test_predicted_values_fill_filters_facets_and_hits_only_where_the_index_has_them() -> None:
    params = SearchParams(
        filters={"colour_group": "Blue", "gender": "Men"}, facets=("colour_group",)
    )
    (found,) = build_request(params, predicted_schema()).searches
    confident = {"range": {"predicted.colour_group.confidence": {"gte": 0.9}}}
    value = {"term": {"predicted.colour_group.value": {"value": "Blue", "case_insensitive": True}}}
    missing = [{"exists": {"field": "colour_group"}}]
    filled = {"bool": {"filter": [confident, value], "must_not": missing}}
    catalog = {"term": {"colour_group.ci": "Blue"}}
    assert found["post_filter"] == {
        "bool": {"filter": [{"bool": {"should": [catalog, filled], "minimum_should_match": 1}}]}
    }
    assert found["query"]["bool"]["filter"] == [{"term": {"gender.ci": "Men"}}]  # no predictions
    counted = found["aggs"]["facet:colour_group"]["aggs"]["predicted"]
    assert counted["filter"] == {"bool": {"filter": [confident], "must_not": missing}}
    assert counted["aggs"]["values"]["terms"]["field"] == "predicted.colour_group.value"
    assert "predicted.colour_group.confidence" in found["docvalue_fields"]
    off = replace(params, predicted=False)
    assert build_request(off, predicted_schema()).searches == build_request(off, schema()).searches
