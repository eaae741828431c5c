"""The merchandiser's endpoints over the real node: coverage, probable mislabels, corrections
set and reverted at once, every attribute of a product with its source, and bad input
refused with a 4xx that names the problem and changes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from support import (
    ATTRIBUTE_PRODUCTS,
    FASHION,
    TEST_ENGINE,
    attribute_rows,
    count_requests,
    mislabelled_shoe,
    trained_attributes_alias,
)
from visearch.attributes.overrides import list_overrides
from visearch.plugin.search import Searcher
from visearch.web.app import create_app
from visearch.web.config import ServiceConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def alias(os_client, encoder, tmp_path_factory) -> str:  # noqa: ANN001
    return trained_attributes_alias(os_client, encoder, tmp_path_factory.mktemp("attr-api"))


@pytest.fixture(scope="module")
def api(os_client, encoder, alias) -> TestClient:  # noqa: ANN001
    app = create_app(Searcher(os_client, alias, encoder), ServiceConfig(images_base=str(FASHION)))
    return TestClient(app)


def _error(response, status: int, code: str) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    for secret in ("127.0.0.1", "9200", "test-", "/work", "Traceback"):
        assert secret not in response.text, response.text
    return error


def test_coverage_counts_catalog_predicted_and_missing(api: TestClient) -> None:
    response = api.get("/v1/attributes/coverage")
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["products"] == ATTRIBUTE_PRODUCTS
    rows = data["attributes"]
    assert set(rows) == {"category", "colour_group"}  # those with a model, by default
    assert rows["category"] == {"catalog": ATTRIBUTE_PRODUCTS, "predicted": 0, "missing": 0}
    colour = rows["colour_group"]
    assert colour["catalog"] == ATTRIBUTE_PRODUCTS - 10
    assert colour["predicted"] + colour["missing"] == 10
    one = api.get("/v1/attributes/coverage", params={"attribute": "gender"}).json()
    assert set(one["attributes"]) == {"gender"}


def test_review_lists_the_mislabelled_shoe_with_its_photo(api: TestClient) -> None:
    params = {"attribute": "category", "threshold": 0.5}
    response = api.get("/v1/attributes/review", params=params)
    assert response.status_code == 200, response.text
    first = response.json()["mislabels"][0]
    shoe = mislabelled_shoe()
    assert (first["sku"], first["title"]) == (shoe["sku"], shoe["title"])
    assert (first["catalog"], first["predicted"]) == ("Apparel", "Footwear")
    assert 0.5 <= first["confidence"] <= 1.0
    assert api.get(first["image_url"]).content == (FASHION / shoe["image"]).read_bytes()


def test_accept_a_prediction_then_revert(api: TestClient, os_client, alias) -> None:  # noqa: ANN001
    shoe = mislabelled_shoe()
    body = {"sku": shoe["sku"], "attribute": "category", "value": "Footwear", "by": "ana"}
    response = api.post("/v1/attributes/set", json=body)
    assert response.status_code == 200, response.text
    done = response.json()
    assert (done["value"], done["catalog"], done["by"], done["status"]) == (
        "Footwear", "Apparel", "ana", "active")  # fmt: skip
    product = api.get(f"/v1/products/{shoe['sku']}").json()
    assert product["attributes"]["category"] == "Footwear"  # at once
    source = product["attribute_sources"]["category"]
    assert (source["source"], source["by"], source["catalog"]) == ("corrected", "ana", "Apparel")
    assert source["at"] == done["at"]
    found = api.post("/v1/search", json={"filters": {"category": "Footwear"}, "k": 100}).json()
    assert shoe["sku"] in {hit["sku"] for hit in found["hits"]}
    listed = api.get("/v1/attributes/review", params={"attribute": "category", "threshold": 0.5})
    assert shoe["sku"] not in {row["sku"] for row in listed.json()["mislabels"]}

    response = api.post("/v1/attributes/revert", json={"sku": shoe["sku"], "attribute": "category"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "reverted"
    source = api.get(f"/v1/products/{shoe['sku']}").json()["attribute_sources"]["category"]
    assert (source["value"], source["source"]) == ("Apparel", "catalog")
    assert source["prediction"]["value"] == "Footwear"
    again = api.post("/v1/attributes/revert", json={"sku": shoe["sku"], "attribute": "category"})
    _error(again, 409, "no_correction")
    assert list_overrides(os_client, alias, sku=shoe["sku"]) == []


def test_product_shows_each_attribute_with_its_source(
    api: TestClient,
    os_client,
    monkeypatch,  # noqa: ANN001
) -> None:
    row = attribute_rows()[-1]  # its colour is blank in the catalog
    calls = count_requests(os_client, monkeypatch)
    product = api.get(f"/v1/products/{row['sku']}").json()
    if TEST_ENGINE == "opensearch":  # (the Elasticsearch client is not counted this way)
        assert len(calls) == 1 and "/_doc/" in calls[0]  # the product and its sources: one GET
    monkeypatch.undo()
    sources = product["attribute_sources"]
    assert sources["brand"] == {
        "value": product["attributes"]["brand"], "source": "catalog", "prediction": None,
        "confidence": None, "by": None, "at": None, "catalog": None,
    }  # fmt: skip
    colour = sources["colour_group"]
    assert "colour_group" not in product["attributes"]
    assert colour["source"] in ("predicted", "missing")
    assert colour["confidence"] == colour["prediction"]["confidence"]
    assert (colour["value"] is not None) is (colour["source"] == "predicted")


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        ({"attribute": "shade", "value": "Red"}, 400, "unknown_attribute", "unknown attribute"),
        ({"attribute": "category", "value": 7}, 400, "invalid_params", "valid string"),
        ({"attribute": "category", "value": "  "}, 400, "invalid_value", "must not be empty"),
        ({"attribute": "category", "value": "X", "sku": "nope-1"}, 404, "product_not_found",
         "no product with sku 'nope-1'"),
        ({"attribute": "category", "value": "X", "colour": "Red"}, 400, "invalid_params",
         "colour"),
    ],
)  # fmt: skip
def test_bad_corrections_are_refused_and_change_nothing(
    api: TestClient,
    os_client,
    alias,
    body,
    status,
    code,
    words,  # noqa: ANN001
) -> None:
    sku = attribute_rows()[5]["sku"]
    before = api.get(f"/v1/products/{sku}").json()
    error = _error(api.post("/v1/attributes/set", json={"sku": sku, **body}), status, code)
    assert words in error["message"]
    assert api.get(f"/v1/products/{sku}").json() == before
    assert list_overrides(os_client, alias, sku=sku, include_reverted=True) == []


def test_bad_queries_are_400(api: TestClient) -> None:
    error = _error(api.get("/v1/attributes/review?attribute=hue"), 400, "unknown_attribute")
    assert "category" in error["valid_attributes"]
    _error(api.get("/v1/attributes/coverage?attribute=title"), 400, "unknown_attribute")
    _error(api.get("/v1/attributes/review?limit=0"), 400, "invalid_params")
    _error(api.get("/v1/attributes/coverage?threshold=2"), 400, "invalid_params")


def test_openapi_documents_the_endpoints(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("coverage", "review", "set", "revert"):
        assert f"/v1/attributes/{path}" in paths
