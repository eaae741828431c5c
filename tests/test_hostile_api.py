"""What a hostile client and a careless operator did to `visearch serve`, each case fixed and
held here. Traffic goes to loopback only; every test is bounded in count and time."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from fastapi.testclient import TestClient
from PIL import Image

from support import ENCODER, FASHION, BlackHole, Relay, fashion_rows, ingest, write_catalog
from visearch.engine.connection import make_client
from visearch.ingest import aliases
from visearch.plugin.errors import SearchBackendError, SearchTimeoutError
from visearch.plugin.params import MAX_KEYWORD_WORDS, SearchParams
from visearch.plugin.search import Searcher
from visearch.web.app import create_app
from visearch.web.config import ServiceConfig
from visearch.web.context import SafeFormatter
from visearch.web.errors import to_api_error
from visearch.web.launch import serve_in_background
from visearch.web.workers import PixelBudget

pytestmark = pytest.mark.slow
PHOTO = FASHION / "images" / "10045.jpg"


def client_for(searcher: Searcher, **config: object) -> TestClient:
    return TestClient(create_app(searcher, ServiceConfig(images_base=str(FASHION), **config)))


@pytest.fixture(scope="module")
def api(os_client, search_alias, encoder) -> TestClient:  # noqa: ANN001
    return client_for(Searcher(os_client, search_alias, encoder))


def error_of(response: requests.Response) -> dict:
    return response.json()["error"]


# --------------------------------------------------------------------------- client input


def test_input_past_the_limits_is_a_400_with_the_limit(api: TestClient) -> None:
    words = " ".join(f"w{n}" for n in range(513))
    response = api.post("/v1/search", json={"keywords": words})
    assert response.status_code == 400
    assert error_of(response) | {"message": "", "request_id": ""} == {
        "code": "limit_exceeded", "field": "keywords", "limit": MAX_KEYWORD_WORDS,
        "given": 513, "message": "", "request_id": "",
    }  # fmt: skip
    values = [f"v{n}" for n in range(65_537)]
    response = api.post("/v1/search", json={"filters": {"brand": values}})
    assert response.status_code == 400 and error_of(response)["code"] == "limit_exceeded"
    deep = "[" * 100_000 + "]" * 100_000
    response = api.post("/v1/search", content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_json"
    response = api.post("/v1/search", json={"facets": ["x" * 10_000]})
    assert response.status_code == 400


def test_a_huge_query_image_is_refused_before_decoding(api: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("1", (6000, 6000)).save(buffer, "PNG")  # 36 Mpx in a few KB
    started = time.monotonic()
    files = {"image": ("big.png", buffer.getvalue(), "image/png")}
    response = api.post("/v1/search", files=files)
    assert response.status_code == 422 and "decompression bomb" in error_of(response)["message"]
    assert time.monotonic() - started < 2


# --------------------------------------------------------------------------- what clients see


def test_5xx_bodies_name_no_internal_host(encoder) -> None:  # noqa: ANN001
    down = Searcher(make_client("http://127.0.0.1:1", timeout_s=2), "products", encoder)
    api = client_for(down)
    for response in (api.post("/v1/search", json={"keywords": "x"}), api.get("/healthz")):
        assert response.status_code == 503
        text = response.text
        assert "127.0.0.1" not in text and "HTTPConnection" not in text and "port=1" not in text
    assert api.post("/v1/search", json={"keywords": "x"}).headers["retry-after"]
    cluster_said = SearchBackendError(
        "products", [{"type": "x_exception", "reason": "node-7 at 10.1.2.3 said no"}]
    )
    api_error = to_api_error(cluster_said)
    assert api_error.status == 502 and "10.1.2.3" not in api_error.message


def test_hits_never_show_server_paths(os_client, index_name, tmp_path, encoder) -> None:  # noqa: ANN001
    rows = [{**row, "image": str(FASHION / row["image"])} for row in fashion_rows(3)]
    catalog = write_catalog(tmp_path / "catalog.csv", rows)
    ingest(os_client, catalog, index_name, encoder, image_roots=(FASHION,))
    api = client_for(Searcher(os_client, index_name, encoder))
    data = api.post("/v1/search", json={"filters": {"gender": ["Men", "Women"]}}).json()
    product = api.get(f"/v1/products/{rows[0]['sku']}").json()
    for item in [*data["hits"], product]:
        assert "image" not in item and item["image_url"].startswith("/images/images/")
    assert str(FASHION) not in json.dumps(data) + json.dumps(product)


def test_a_doubled_alias_is_unhealthy(os_client, index_name, tmp_path, encoder) -> None:  # noqa: ANN001
    first = ingest(os_client, write_catalog(tmp_path / "c.csv", fashion_rows(2)), index_name,
                   encoder, images_dir=FASHION)  # fmt: skip
    api = client_for(Searcher(os_client, index_name, encoder))
    assert api.get("/healthz").status_code == 200
    twin = aliases.create_index(os_client, index_name)
    os_client.indices.put_alias(index=twin, name=index_name)
    api = client_for(Searcher(os_client, index_name, encoder))
    health = api.get("/healthz")
    assert health.status_code == 503
    assert health.json()["checks"]["index"] == {"ok": False, "problem": "alias_on_several_indices"}
    assert first.index not in health.text and twin not in health.text


def test_control_characters_cannot_forge_log_lines(api: TestClient) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(levelname)s %(message)s"))
    access = logging.getLogger("visearch.access")
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    try:
        api.get("/v1/products/x%0a2026-11-30%2014:00:00,000%20INFO%20forged%0d%1b[2J")
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and "\\n2026-11-30" in lines[0] and "\\x1b" in lines[0]


def test_the_api_docs_work_offline(api: TestClient) -> None:
    page = api.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    assert api.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert api.get("/docs/assets/swagger-ui.css").status_code == 200


# --------------------------------------------------------------------------- bounded work


class GatedEncoder:
    """The real encoder, held at a gate: image work that cannot finish until released."""

    def __init__(self, encoder) -> None:  # noqa: ANN001
        self.encoder, self.gate, self.calls = encoder, threading.Event(), 0
        self.name, self.dim, self.supports_text = encoder.name, encoder.dim, False

    def embed_images(self, images: list) -> np.ndarray:
        self.calls += 1
        self.gate.wait(timeout=30)
        return self.encoder.embed_images(images)


def test_image_work_is_bounded_and_the_excess_refused_at_once(os_client, search_alias, encoder):  # noqa: ANN001
    gated = GatedEncoder(encoder)
    one_photo = 168 * 224  # the budget holds one catalog photo's pixels, not two
    searcher = Searcher(os_client, search_alias, gated)
    api = client_for(searcher, image_pixel_budget=one_photo + 1000, timeout_s=30)
    files = {"image": ("p.jpg", PHOTO.read_bytes(), "image/jpeg")}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(api.post, "/v1/search", files=files)
        while gated.calls == 0:
            time.sleep(0.01)
        started = time.monotonic()
        second = api.post("/v1/search", files=files)
        assert second.status_code == 503 and error_of(second)["code"] == "busy"
        assert second.headers["retry-after"] and time.monotonic() - started < 1
        assert api.post("/v1/search", json={"keywords": "shirt"}).status_code == 200  # no image
        gated.gate.set()
        assert first.result().status_code == 200


def test_work_past_its_deadline_stops(os_client, search_alias, encoder) -> None:  # noqa: ANN001
    gated = GatedEncoder(encoder)
    gated.gate.set()
    searcher = Searcher(os_client, search_alias, gated)
    with pytest.raises(SearchTimeoutError):
        searcher.search(SearchParams(image=str(PHOTO)), deadline=time.monotonic() - 1)
    assert gated.calls == 0  # the model never ran for a caller that had given up
    budget = PixelBudget(100)
    assert budget.take(60) and not budget.take(60) and budget.take(40)
    budget.give_back(60)
    assert budget.take(50)


def test_the_heap_is_trimmed_after_a_burst_of_large_images_only() -> None:
    """malloc_trim runs when the last job of a burst ends, and only if the burst held many
    pixels at once: after each ordinary photo it cost about 1 ms of CPU a request."""
    trims = []
    budget = PixelBudget(100, on_idle=lambda: trims.append(1), idle_after=30)
    for _ in range(3):  # small photos one after another
        assert budget.take(10)
        budget.give_back(10)
    assert trims == []
    assert budget.take(20) and budget.take(15)  # 35 at once
    budget.give_back(20)
    assert trims == []  # the burst is not over
    budget.give_back(15)
    assert trims == [1]
    assert budget.take(10)
    budget.give_back(10)
    assert trims == [1]  # a new burst, a small one


# --------------------------------------------------------------------------- the real server


@pytest.fixture(scope="module")
def server(opensearch_url: str, search_alias: str) -> str:
    flags = ["--header-timeout-s", "1", "--body-timeout-s", "1", "--max-connections", "20"]
    with serve_in_background(opensearch_url, search_alias, flags, environ=os.environ) as base:
        yield base


def _connect(base: str) -> socket.socket:
    port = int(base.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_slow_headers_are_cut_off(server: str) -> None:
    slow = [_connect(server) for _ in range(10)]
    for conn in slow:
        conn.sendall(b"GET /v1/config HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    time.sleep(1.5)
    assert requests.get(f"{server}/v1/config", timeout=5).status_code == 200
    for conn in slow:
        assert conn.recv(1024) == b""  # closed by the server
        conn.close()


def test_connections_past_the_cap_get_503(server: str) -> None:
    held = [_connect(server) for _ in range(25)]
    try:
        refused = 0
        for conn in held:
            conn.settimeout(0.5)
            with contextlib.suppress(TimeoutError):
                refused += conn.recv(1024).startswith(b"HTTP/1.1 503")
        assert refused >= 5
    finally:
        for conn in held:
            conn.close()


def test_a_body_that_stops_coming_is_408(server: str) -> None:
    conn = _connect(server)
    head = b"POST /v1/search HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
    conn.sendall(head + b'content-length: 1000\r\n\r\n{"keywords": ')
    conn.settimeout(5)
    assert conn.recv(1024).startswith(b"HTTP/1.1 408")
    conn.close()


def test_a_hung_cluster_leaves_the_service_answering(search_alias: str) -> None:
    hung = BlackHole()
    flags = ["--encoder", ENCODER, "--timeout-s", "3"]
    try:
        with serve_in_background(hung.url, search_alias, flags, environ=os.environ,
                                 healthy=False, timeout_s=60) as base:  # fmt: skip
            started = time.monotonic()
            assert requests.get(f"{base}/healthz", timeout=5).status_code == 503
            assert time.monotonic() - started < 1
            with ThreadPoolExecutor(16) as pool:
                searches = [
                    pool.submit(
                        requests.post, f"{base}/v1/search", json={"keywords": "x"}, timeout=10
                    )  # fmt: skip
                    for _ in range(60)
                ]
                started = time.monotonic()
                assert requests.get(f"{base}/v1/config", timeout=5).status_code == 200
                assert time.monotonic() - started < 1
                codes = [future.result().status_code for future in searches]
            assert set(codes) == {503}
    finally:
        hung.close()


def test_the_service_starts_without_its_cluster_and_recovers(opensearch_url, search_alias):  # noqa: ANN001
    host, port = opensearch_url.removeprefix("http://").split(":")
    relay = Relay((host, int(port)))
    try:
        with serve_in_background(relay.url, search_alias, [], environ=os.environ,
                                 healthy=False, timeout_s=60) as base:  # fmt: skip
            assert requests.get(f"{base}/healthz", timeout=5).status_code == 503
            assert requests.get(f"{base}/v1/config", timeout=5).json()["available"] is False
            relay.start()  # the cluster comes back
            deadline = time.monotonic() + 60
            while requests.get(f"{base}/healthz", timeout=5).status_code != 200:
                assert time.monotonic() < deadline, "never became healthy"
                time.sleep(0.5)
            found = requests.post(f"{base}/v1/search", json={"keywords": "shirt"}, timeout=30)
            assert found.status_code == 200 and found.json()["hits"]
    finally:
        relay.close()
