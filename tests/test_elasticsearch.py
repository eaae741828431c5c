"""The same library on Elasticsearch: the real ingest, a photo search, words, filters and
facets on 60 fashion products, through the official client and the dialect layer
(engine/dialect.py), with the engine detected from the cluster."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from support import FASHION, RUN_PREFIX, fashion_rows, ingest, with_business_fields, write_catalog
from visearch import cli
from visearch.engine.connection import make_client
from visearch.plugin.params import SearchParams
from visearch.plugin.search import Searcher, open_searcher

SLICE = 60
PUMA_TSHIRT = "10045"  # "Puma Men Heroes Party Graphic Blue Tshirts"

pytestmark = pytest.mark.slow


def photo(sku: str) -> str:
    return str(FASHION / "images" / f"{sku}.jpg")


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return [with_business_fields(row) for row in fashion_rows(SLICE)]


@pytest.fixture(scope="module")
def alias(es_client, rows, encoder, tmp_path_factory) -> Iterator[str]:  # noqa: ANN001
    name = f"{RUN_PREFIX}-es-fashion"
    catalog = write_catalog(tmp_path_factory.mktemp("es") / "catalog.csv", rows)
    summary = ingest(es_client, catalog, name, encoder, images_dir=FASHION)
    assert (summary.embedded, summary.failed) == (SLICE, 0)
    yield name


@pytest.fixture(scope="module")
def searcher(es_client, alias, encoder) -> Searcher:  # noqa: ANN001
    return Searcher(es_client, alias, encoder)


def test_the_engine_is_detected(elasticsearch_url: str, opensearch_url: str) -> None:
    detected = make_client(elasticsearch_url, engine="auto")
    assert detected.dialect.engine == "elasticsearch"
    assert not hasattr(make_client(opensearch_url, engine="auto"), "dialect")


def test_ingest_writes_dense_vectors_behind_the_alias(es_client, alias: str) -> None:  # noqa: ANN001
    indices = es_client.indices.get_alias(name=alias)
    assert len(indices) == 1 and next(iter(indices)).startswith(f"{alias}-v")
    raw = es_client.raw.indices.get_mapping(index=alias).body
    photos = next(iter(raw.values()))["mappings"]["properties"]["photos"]
    vector = photos["properties"]["vector"]
    assert photos["type"] == "nested"
    assert (vector["type"], vector["similarity"], vector["index_options"]["type"]) == (
        "dense_vector", "cosine", "hnsw"
    )  # fmt: skip
    assert es_client.count(index=alias)["count"] == SLICE


def test_catalog_photo_finds_itself_first(searcher: Searcher) -> None:
    result = searcher.search(SearchParams(image=photo(PUMA_TSHIRT), k=5))
    assert result.mode == "vector"
    assert result.hits[0].sku == PUMA_TSHIRT
    assert result.hits[0].explanation.similarity == pytest.approx(1.0, abs=1e-4)
    assert len(result.hits) == 5


def test_similar_to_and_min_score(searcher: Searcher) -> None:
    by_photo = searcher.search(SearchParams(image=photo(PUMA_TSHIRT), k=6))
    similar = searcher.search(SearchParams(similar_to=PUMA_TSHIRT, k=5))
    assert [hit.sku for hit in similar.hits] == [hit.sku for hit in by_photo.hits[1:]]
    close = searcher.search(SearchParams(image=photo(PUMA_TSHIRT), min_score=0.45, k=50))
    assert 0 < close.total < 50 and close.total == len(close.hits)
    assert all(hit.explanation.similarity >= 0.45 - 1e-6 for hit in close.hits)


def test_filters_go_inside_the_knn_and_facets_count_the_pool(
    searcher: Searcher, rows: list[dict[str, str]]
) -> None:
    params = SearchParams(image=photo("10001"), filters={"gender": "Men"}, k=50,
                          facets=("gender", "article_type"))  # fmt: skip
    result = searcher.search(params)
    men = sum(row["gender"] == "Men" for row in rows)
    assert result.total == len(result.hits) == men  # every Men product is a candidate
    assert {hit.attributes["gender"] for hit in result.hits} == {"Men"}
    counts = {value.value: value.count for value in result.facets["article_type"]}
    expected = Counter(row["article_type"] for row in rows if row["gender"] == "Men")
    assert counts == dict(expected)


def test_a_selected_facet_still_counts_its_other_values(
    searcher: Searcher, rows: list[dict[str, str]]
) -> None:
    params = SearchParams(image=photo("10001"), filters={"gender": "Men"}, facets=("gender",))
    result = searcher.search(params)
    assert {hit.attributes["gender"] for hit in result.hits} == {"Men"}
    counts = {value.value: value.count for value in result.facets["gender"]}
    assert counts == dict(Counter(row["gender"] for row in rows))  # the pool is all 60


def test_words_and_browse(searcher: Searcher, rows: list[dict[str, str]]) -> None:
    words = searcher.search(SearchParams(keywords="Puma", k=50))
    titles = sum("puma" in row["title"].lower().split() for row in rows)
    assert words.mode == "keywords" and words.total == titles > 0
    assert PUMA_TSHIRT in {hit.sku for hit in words.hits}
    hybrid = searcher.search(SearchParams(image=photo(PUMA_TSHIRT), keywords="Puma", k=5))
    assert hybrid.mode == "hybrid" and hybrid.hits[0].sku == PUMA_TSHIRT
    browse = searcher.search(SearchParams(filters={"gender": "Women"}, k=100))
    assert browse.total == sum(row["gender"] == "Women" for row in rows)


def test_open_searcher_reads_the_encoder_from_the_mapping(es_client, alias, encoder) -> None:  # noqa: ANN001
    searcher = open_searcher(es_client, alias, load_encoder=lambda spec: encoder)
    assert searcher.schema.encoder == encoder.name and searcher.schema.dim == encoder.dim
    assert searcher.schema.space_type == "cosinesimil"


def test_the_documented_differences(es_client, alias: str, searcher: Searcher) -> None:  # noqa: ANN001
    """README, Elasticsearch: what this engine (and the Maven Central node) does differently."""
    result = searcher.search(SearchParams(image=photo(PUMA_TSHIRT), k=3))
    assert result.hits[0].explanation.centroid_similarity is None  # no overall look script

    def tokens(field: str, text: str) -> list[str]:
        body = {"field": field, "text": text}
        return [t["token"] for t in es_client.indices.analyze(index=alias, body=body)["tokens"]]

    if es_client.dialect.english:  # a full Elasticsearch: stems and folds like OpenSearch
        assert tokens("title", "the Shoes") == ["shoe"]
        assert tokens("colour.ci", "Café") == ["cafe"]
    else:  # the Maven Central node: English stop words, no stemming; case folded, not accents
        assert tokens("title", "the Shoes") == ["shoes"]
        assert tokens("colour.ci", "Café") == ["café"]


def test_the_commands_find_the_engine_themselves(elasticsearch_url: str, alias: str) -> None:
    env = {
        "OPENSEARCH_URL": elasticsearch_url,
        "VISEARCH_INDEX": alias,
        "VISEARCH_RUNTIME": "torch",
    }
    args = ["search", "--image", photo(PUMA_TSHIRT), "--k", "3", "--facet", "gender", "--json"]
    result = CliRunner().invoke(cli.main, args, env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["hits"][0]["sku"] == PUMA_TSHIRT and data["facets"]["gender"]


def test_the_http_api_serves_elasticsearch(searcher: Searcher) -> None:
    from visearch.web.app import create_app
    from visearch.web.config import ServiceConfig

    api = TestClient(create_app(searcher, ServiceConfig(images_base=str(FASHION))))
    health = api.get("/healthz")
    assert health.status_code == 200, health.text
    files = {"image": ("upload.jpg", Path(photo(PUMA_TSHIRT)).read_bytes(), "image/jpeg")}
    response = api.post("/v1/search", files=files, data={"params": json.dumps({"k": 3})})
    assert response.status_code == 200, response.text
    assert response.json()["hits"][0]["sku"] == PUMA_TSHIRT


def test_a_rebuild_copies_the_stored_vectors(es_client, alias, rows, encoder, tmp_path) -> None:  # noqa: ANN001
    catalog = write_catalog(tmp_path / "catalog.csv", rows)
    summary = ingest(es_client, catalog, alias, encoder, images_dir=FASHION, rebuild=True)
    assert (summary.copied, summary.embedded, summary.failed) == (SLICE, 0, 0)
    assert len(es_client.indices.get_alias(name=alias)) == 1
