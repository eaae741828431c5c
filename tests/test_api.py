"""The HTTP API in-process (Starlette's TestClient) over the real node and the shared
300-product fashion index embedded by the real EfficientNet-Lite0 (tests/conftest.py)."""

from __future__ import annotations

import io
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from support import FASHION
from visearch.engine.connection import make_client
from visearch.plugin.params import SearchParams
from visearch.plugin.search import Searcher
from visearch.vectors.images import load_image
from visearch.web.app import create_app
from visearch.web.batching import BatchingEncoder
from visearch.web.config import ServiceConfig
from visearch.web.context import CLIENT_LOGGERS, RequestIdFilter, configure_logging

pytestmark = pytest.mark.slow

PUMA_TSHIRT = "10045"  # Puma Men Heroes Party Graphic Blue Tshirts
HTML = b"<!doctype html><html><body>not a photo</body></html>"


def photo(sku: str) -> Path:
    return FASHION / "images" / f"{sku}.jpg"


@pytest.fixture(scope="module")
def searcher(os_client, search_alias, encoder) -> Searcher:  # noqa: ANN001
    return Searcher(os_client, search_alias, encoder)


def client_for(searcher: Searcher, **config: object) -> TestClient:
    settings = {"images_base": str(FASHION), **config}
    return TestClient(create_app(searcher, ServiceConfig(**settings)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def api(searcher: Searcher) -> TestClient:
    return client_for(searcher)


def upload(api: TestClient, data: bytes, params: dict | None = None, **form: str):  # noqa: ANN201
    # A misleading name and content type on purpose: the type comes from the bytes.
    files = {"image": ("upload.txt", data, "text/plain")}
    fields = {"params": json.dumps(params)} if params is not None else {}
    return api.post("/v1/search", files=files, data={**fields, **form})


def error_of(response) -> dict:  # noqa: ANN001
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    return body["error"]


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize("sku", ["10001", PUMA_TSHIRT, "10230"])
def test_uploaded_catalog_photo_finds_itself_first(api: TestClient, sku: str) -> None:
    response = upload(api, photo(sku).read_bytes(), {"k": 5})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["mode"] == "vector"
    first = data["hits"][0]
    assert first["sku"] == sku
    assert first["explanation"]["similarity"] == pytest.approx(1.0, abs=1e-4)
    assert first["image_url"] == f"/images/images/{sku}.jpg"
    assert api.get(first["image_url"]).content == photo(sku).read_bytes()


def test_form_fields_json_and_the_search_api_agree(api: TestClient, searcher: Searcher) -> None:
    """The same query as multipart form fields, as a params part, and straight through
    Searcher: same hits, same multi-select facet counts."""
    query = {
        "keywords": "shirt",
        "filters": {"gender": ["Men"], "colour_group": ["Blue", "White"]},
        "facets": ["colour_group", "article_type"],
        "price_min": 20,
        "price_max": 80,
        "k": 30,
    }
    direct = searcher.search(
        SearchParams(image=str(photo(PUMA_TSHIRT)), **{**query, "facets": tuple(query["facets"])})
    )
    expected = json.loads(json.dumps(direct.as_dict()))
    data = photo(PUMA_TSHIRT).read_bytes()
    as_params = upload(api, data, query).json()
    as_fields = upload(
        api,
        data,
        None,
        keywords="shirt",
        filters=json.dumps(query["filters"]),
        facets=json.dumps(query["facets"]),
        price_min="20",
        price_max="80",
        k="30",
    ).json()
    for got in (as_params, as_fields):
        assert got["mode"] == "hybrid"
        assert [h["sku"] for h in got["hits"]] == [h["sku"] for h in expected["hits"]]
        assert got["facets"] == expected["facets"]
        assert got["total"] == expected["total"] > 0
    hits = as_params["hits"]
    assert {h["attributes"]["colour_group"] for h in hits} <= {"Blue", "White"}
    assert all(h["attributes"]["gender"] == "Men" and 20 <= h["price"] <= 80 for h in hits)
    selected = {v["value"] for v in as_params["facets"]["colour_group"] if v["selected"]}
    assert selected == {"Blue", "White"}


def test_json_browse_and_keywords(api: TestClient, search_rows: list) -> None:
    response = api.post(
        "/v1/search", json={"filters": {"gender": "Women"}, "facets": ["gender"], "k": 100}
    )
    assert response.status_code == 200
    women = sum(row["gender"] == "Women" for row in search_rows)
    data = response.json()
    assert data["mode"] == "browse" and data["total"] == women
    assert {h["attributes"]["gender"] for h in data["hits"]} == {"Women"}
    # gender is a facet here, so its counts ignore the gender selection (multi-select).
    counts = {v["value"]: v["count"] for v in data["facets"]["gender"]}
    assert counts["Women"] == women and counts["Men"] > 0


def test_similar_to_reuses_the_stored_vector(api: TestClient) -> None:
    by_photo = upload(api, photo(PUMA_TSHIRT).read_bytes(), {"k": 6}).json()
    similar = api.post("/v1/search", json={"similar_to": PUMA_TSHIRT, "k": 5}).json()
    assert [h["sku"] for h in similar["hits"]] == [h["sku"] for h in by_photo["hits"][1:]]
    missing = api.post("/v1/search", json={"similar_to": "nope"})
    assert missing.status_code == 404 and error_of(missing)["code"] == "product_not_found"


def test_image_url_from_an_allowed_private_host(searcher: Searcher, loopback_http) -> None:  # noqa: ANN001
    """With --allow-private-urls the loader fetches from loopback; the type still comes
    from the bytes."""
    loopback_http.files.update({"/shirt": photo(PUMA_TSHIRT).read_bytes(), "/page": HTML})
    base = loopback_http.base
    api = client_for(searcher, allow_private_urls=True)
    found = api.post("/v1/search", json={"image_url": f"{base}/shirt", "k": 3})
    assert found.status_code == 200, found.text
    assert found.json()["hits"][0]["sku"] == PUMA_TSHIRT
    page = api.post("/v1/search", json={"image_url": f"{base}/page"})
    assert page.status_code == 415 and error_of(page)["code"] == "unsupported_media_type"
    gone = api.post("/v1/search", json={"image_url": f"{base}/missing"})
    assert gone.status_code == 422 and "HTTP 404" in error_of(gone)["message"]


# --------------------------------------------------------------------------- refusals


def test_oversized_upload_is_413(searcher: Searcher) -> None:
    api = client_for(searcher, max_upload_bytes=20_000)
    big = noise_png(200)  # ~120 kB: over the image cap, under the body cap
    assert len(big) > 20_000
    response = upload(api, big)
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large" and "image is larger than 20000" in error["message"]
    # A body past the whole-body cap is refused from Content-Length, before it is read.
    huge = upload(api, b"\xff\xd8\xff" + bytes(400_000))
    assert huge.status_code == 413 and "request body" in error_of(huge)["message"]


def test_non_image_upload_is_415(api: TestClient) -> None:
    response = api.post("/v1/search", files={"image": ("photo.jpg", HTML, "image/jpeg")})
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    truncated = upload(api, photo(PUMA_TSHIRT).read_bytes()[:300])  # a JPEG header, no pixels
    assert truncated.status_code == 422 and error_of(truncated)["code"] == "image_unusable"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9200/_cat/indices",
        "http://localhost/photo.jpg",  # a name that resolves to loopback
        "http://[::1]/photo.jpg",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://10.0.0.7/photo.jpg",
        "http://192.168.1.10/photo.jpg",
        "http://224.0.0.1/photo.jpg",  # multicast
        "http://0.0.0.0/photo.jpg",
        "http://[::ffff:127.0.0.1]/photo.jpg",
    ],
)
def test_private_image_url_is_400(api: TestClient, url: str) -> None:
    # Refused after resolution and before connecting: nothing is sent to these addresses.
    response = api.post("/v1/search", json={"image_url": url})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "image_url_forbidden"
    assert error["message"] == "image_url must name a public host (its address is not a public one)"


def test_image_url_must_be_http(api: TestClient) -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/a.jpg", "/etc/passwd"):
        response = api.post("/v1/search", json={"image_url": url})
        assert response.status_code == 400
        assert "http:// or https://" in error_of(response)["message"]


def test_unknown_filter_is_400_listing_the_valid_fields(api: TestClient) -> None:
    response = upload(api, photo(PUMA_TSHIRT).read_bytes(), {"filters": {"color": "Blue"}})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "unknown_field" and error["field"] == "color"
    assert {"colour", "colour_group", "brand", "gender"} <= set(error["valid_fields"])
    assert "valid fields: article_type, brand" in error["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"k": 0, "keywords": "x"}, "k must be an integer in 1..10000"),
        ({"k": "many", "keywords": "x"}, "k: Input should be a valid integer"),
        ({"keywords": "x", "colour": "Blue"}, "colour: Extra inputs are not permitted"),
        ({}, "nothing to search for"),
        ({"text": "red dress"}, "embeds images only"),
        ({"keywords": "x", "boosts": {"stock": True}}, "boosts.stock"),
    ],
)
def test_bad_params_are_400(api: TestClient, body: dict, fragment: str) -> None:
    response = api.post("/v1/search", json=body)
    assert response.status_code == 400, response.text
    assert fragment in error_of(response)["message"]


def test_malformed_bodies(api: TestClient) -> None:
    broken = api.post("/v1/search", content=b"{nope", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and error_of(broken)["code"] == "invalid_json"
    text = api.post("/v1/search", content=b"keywords=x", headers={"content-type": "text/plain"})
    assert text.status_code == 415


def test_timeout_is_504(searcher: Searcher) -> None:
    api = client_for(searcher, timeout_s=0.001)
    response = upload(api, photo(PUMA_TSHIRT).read_bytes())
    assert response.status_code == 504 and error_of(response)["code"] == "timeout"


def test_opensearch_down_is_503(encoder) -> None:  # noqa: ANN001
    down = Searcher(make_client("http://127.0.0.1:1", timeout_s=2), "products", encoder)
    api = client_for(down)
    response = api.post("/v1/search", json={"keywords": "shirt"})
    assert response.status_code == 503
    assert error_of(response)["code"] == "search_unavailable"
    health = api.get("/healthz")
    assert health.status_code == 503
    checks = health.json()["checks"]
    assert checks["opensearch"] == {"ok": False, "problem": "unreachable"}
    assert not checks["index"]["ok"]


# --------------------------------------------------------------------------- other endpoints


def test_healthz_and_config(api: TestClient, search_alias: str) -> None:
    response = api.get("/healthz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["opensearch"]["ok"] and checks["index"] == {"ok": True}
    assert checks["encoder"] == {
        "ok": True, "name": "efficientnet-lite0", "dim": 1280, "supports_text": False,
        "runtime": "torch",
    }  # fmt: skip
    config = api.get("/v1/config").json()
    assert config["encoder"]["runtime"] == "torch"
    assert config["alias"] == search_alias and config["available"] is True
    assert config["text_search"] is False and config["image_search"] is True
    assert {"colour_group", "gender", "article_type"} <= set(config["facets"])


def test_healthz_without_the_index_is_503(os_client, encoder) -> None:  # noqa: ANN001
    api = client_for(Searcher(os_client, "test-nothing-here", encoder))
    response = api.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["index"] == {"ok": False, "problem": "index_unavailable"}
    assert "test-nothing-here" not in response.text  # index names stay in the log


def test_product_by_sku(api: TestClient) -> None:
    response = api.get(f"/v1/products/{PUMA_TSHIRT}")
    assert response.status_code == 200
    product = response.json()
    assert product["title"] == "Puma Men Heroes Party Graphic Blue Tshirts"
    assert product["attributes"]["brand"] == "Puma" and product["price"] == 65.5
    assert product["image_url"] == f"/images/images/{PUMA_TSHIRT}.jpg"
    assert "photos" not in product and "explanation" not in product
    missing = api.get("/v1/products/no-such-sku")
    assert missing.status_code == 404
    assert error_of(missing) | {"request_id": ""} == {
        "code": "product_not_found",
        "message": "no product with sku 'no-such-sku'",  # the alias stays the cluster's business
        "sku": "no-such-sku",
        "request_id": "",
    }


def test_facets_of_a_browse(api: TestClient, search_rows: list) -> None:
    everything = api.get("/v1/facets", params={"facet": ["gender"]}).json()
    assert everything["total"] == len(search_rows)
    counts = {v["value"]: v["count"] for v in everything["facets"]["gender"]}
    assert sum(counts.values()) == len(search_rows)
    blue_men = api.get(
        "/v1/facets",
        params={"facet": ["article_type"], "filter": ["colour_group:Blue", "gender:Men"]},
    ).json()
    expected = sum(r["colour_group"] == "Blue" and r["gender"] == "Men" for r in search_rows)
    counted = sum(v["count"] for v in blue_men["facets"]["article_type"])
    assert blue_men["total"] == expected == counted
    bad = api.get("/v1/facets", params={"filter": "colour_group"})
    assert bad.status_code == 400 and "field:value" in error_of(bad)["message"]
    unknown = api.get("/v1/facets", params={"facet": ["size"]})
    assert unknown.status_code == 400 and error_of(unknown)["code"] == "unknown_field"


def test_images_stay_inside_the_images_directory(api: TestClient) -> None:
    assert api.get("/images/images/10001.jpg").status_code == 200
    escapes = ("/images/catalog.csv", "/images/..%2F..%2Fmain%2Fcli.py", "/images/%2Fetc%2Fpasswd")
    for path in escapes:
        assert api.get(path).status_code == 404, path


def test_openapi_and_docs(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()
    assert {"/v1/search", "/v1/products/{sku}", "/v1/facets", "/healthz"} <= set(schema["paths"])
    body = schema["paths"]["/v1/search"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    request = schema["components"]["schemas"]["SearchRequest"]
    assert {"image_url", "similar_to", "filters", "facets", "boosts"} <= set(request["properties"])
    assert "BoostsIn" in schema["components"]["schemas"]
    assert api.get("/docs").status_code == 200


def _answers(schema: dict, path: str, method: str) -> dict[str, str]:
    """status -> the name of the model its JSON body is documented with."""
    responses = schema["paths"][path][method]["responses"]
    return {
        status: answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        for status, answer in responses.items()
    }


def test_openapi_types_every_answer_and_lists_only_real_errors(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()

    def errors(*statuses: int) -> dict[str, str]:
        return {str(status): "ErrorBody" for status in statuses}

    search = errors(400, 408, 413, 415, 422, 502, 503, 504)
    assert _answers(schema, "/v1/search", "post") == {"200": "SearchResponse", **search}
    product = errors(404, 502, 503, 504)
    assert _answers(schema, "/v1/products/{sku}", "get") == {"200": "Product", **product}
    facets = errors(400, 502, 503, 504)
    assert _answers(schema, "/v1/facets", "get") == {"200": "FacetsResponse", **facets}
    assert _answers(schema, "/v1/config", "get") == {"200": "ServiceSettings"}
    assert _answers(schema, "/healthz", "get") == {"200": "Health", "503": "Health"}
    models = schema["components"]["schemas"]
    assert "HTTPValidationError" not in models  # bad parameters are 400 with ErrorBody

    # The models describe what the endpoints really answer, field for field.
    def fields(name: str) -> set[str]:
        return set(models[name]["properties"])

    found = api.post("/v1/search", json={"keywords": "shirt", "k": 2, "facets": ["gender"]})
    data = found.json()
    assert set(data) == fields("SearchResponse") == set(models["SearchResponse"]["required"])
    assert set(data["hits"][0]) == fields("Hit")
    assert set(data["hits"][0]["explanation"]) == fields("Explanation")
    assert set(data["facets"]["gender"][0]) == fields("FacetValue")
    assert set(data["price"]) == fields("PriceStats")
    assert set(data["timings"]) == fields("Timings")
    assert set(api.get(f"/v1/products/{PUMA_TSHIRT}").json()) == fields("Product")
    assert set(api.get("/v1/facets").json()) == fields("FacetsResponse")
    config = api.get("/v1/config").json()
    assert set(config) == fields("ServiceSettings")
    assert set(config["encoder"]) == fields("EncoderInfo")
    health = api.get("/healthz").json()
    assert set(health) == fields("Health") and set(health["checks"]) == fields("HealthChecks")
    assert health["checks"]["index"] == {"ok": True}  # a check lists only what it found


def test_page_is_served(api: TestClient) -> None:
    page = api.get("/")
    assert page.status_code == 200 and 'name="viewport"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert api.get("/static/app.js").status_code == 200


def test_request_id_in_and_out_and_on_log_lines(api: TestClient, caplog) -> None:  # noqa: ANN001
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO):
        given = upload(api, photo(PUMA_TSHIRT).read_bytes())
        response = api.post(
            "/v1/search", json={"keywords": "shirt"}, headers={"X-Request-ID": "trace-42"}
        )
    assert response.headers["x-request-id"] == "trace-42"
    assert len(given.headers["x-request-id"]) == 32  # made up when absent
    mine = [r for r in caplog.records if getattr(r, "request_id", None) == "trace-42"]
    assert {r.name for r in mine} >= {"visearch.search", "visearch.access"}  # thread + loop
    hostile = api.get("/healthz", headers={"X-Request-ID": "a\nb" * 100})
    assert hostile.headers["x-request-id"] != "a\nb" * 100


def test_the_service_log_keeps_cluster_client_warnings_not_a_line_per_request() -> None:
    """The search line has the OpenSearch time: the client's own INFO line per request (and
    per health check) is left out, its warnings about failed requests are not."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging(logging.INFO)
        client = logging.getLogger("opensearch")
        assert client.isEnabledFor(logging.WARNING) and not client.isEnabledFor(logging.INFO)
        assert logging.getLogger("visearch.search").isEnabledFor(logging.INFO)
        configure_logging(logging.DEBUG)
        assert client.isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name in CLIENT_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)


# --------------------------------------------------------------------------- micro-batching


def test_batcher_gives_each_caller_its_own_vectors(encoder) -> None:  # noqa: ANN001
    images = [load_image(str(photo(sku))) for sku in ("10000", "10001", "10045", "10230")]
    direct = encoder.embed_images(images)
    batcher = BatchingEncoder(encoder, max_batch=8, window_s=0.05)
    try:
        with ThreadPoolExecutor(4) as pool:
            rows = list(pool.map(lambda image: batcher.embed_images([image])[0], images))
    finally:
        batcher.close()
    np.testing.assert_allclose(np.stack(rows), direct, atol=1e-5)
    assert batcher.images == 4 and batcher.batches < 4


# --------------------------------------------------------------------------- helpers


def noise_png(side: int) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()
