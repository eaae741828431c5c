"""Shared fixtures: a real OpenSearch (never mocked), real data paths, offline models.

OpenSearch comes from, in order: OPENSEARCH_URL; testcontainers when a Docker engine
answers; else the project's own local node (`visearch opensearch up`), started here and
stopped again at the end if this run started it. In CI a missing OpenSearch is a failure,
never a skip.
"""

from __future__ import annotations

import http.server
import os
import threading
import uuid
from collections.abc import Iterator

import pytest

from support import (
    DATA,
    ENCODER,
    FASHION,
    OPENSEARCH_IMAGE,
    RUN_PREFIX,
    SEARCH_SLICE,
    TEST_ENGINE,
    drop_indices,
    fashion_rows,
    ingest,
    with_business_fields,
    write_catalog,
)

# No test may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:  # noqa: BLE001 - any failure means "no usable engine"
        return False
    return True


@pytest.fixture(scope="session")
def opensearch_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a live OpenSearch with the k-NN plugin (or Elasticsearch, see TEST_ENGINE)."""
    if TEST_ENGINE == "elasticsearch":
        yield request.getfixturevalue("elasticsearch_url")
        return
    if url := os.environ.get("OPENSEARCH_URL"):
        yield url
        return
    if _docker_answers():
        from testcontainers.opensearch import OpenSearchContainer

        with OpenSearchContainer(OPENSEARCH_IMAGE) as container:
            config = container.get_config()
            yield f"http://{config['host']}:{config['port']}"
        return
    from visearch.commands.node import node_for
    from visearch.scripts.opensearch_node import down, status, up

    port = int(os.environ.get("VISEARCH_TEST_PORT", 9200))
    node = node_for(f"http://127.0.0.1:{port}", os.environ)
    started_here = not status(node)["running"]
    up(node, dict(os.environ))
    yield node.url
    if started_here and not os.environ.get("VISEARCH_KEEP_NODE"):
        down(node)


@pytest.fixture(scope="session")
def elasticsearch_url() -> Iterator[str]:
    """The URL of a live Elasticsearch 9: ELASTICSEARCH_URL, else the project's local node
    (`visearch elasticsearch up`, port VISEARCH_TEST_ES_PORT, default 9250), started here and
    stopped at the end if this run started it. Skipped only when Maven Central cannot
    provide the distribution (no network to it); any other failure to start fails."""
    if url := os.environ.get("ELASTICSEARCH_URL"):
        yield url
        return
    from visearch.commands.node import node_for
    from visearch.scripts.opensearch_node import NodeError, down, status, up

    port = int(os.environ.get("VISEARCH_TEST_ES_PORT", 9250))
    node = node_for(f"http://127.0.0.1:{port}", os.environ, "elasticsearch")
    started_here = not status(node)["running"]
    try:
        up(node, dict(os.environ))
    except NodeError as error:
        if "from Maven Central" in str(error):
            pytest.skip(f"Elasticsearch could not be fetched from Maven Central: {error}")
        raise
    yield node.url
    if started_here and not os.environ.get("VISEARCH_KEEP_NODE"):
        down(node)


@pytest.fixture(scope="session")
def es_client(elasticsearch_url: str):  # noqa: ANN201
    """The official Elasticsearch client for the test node; the run's indices go at the end."""
    from visearch.engine.connection import make_client

    client = make_client(elasticsearch_url, engine="elasticsearch")
    yield client
    drop_indices(client, f"{RUN_PREFIX}-*")
    client.indices.delete_index_template(name=f"{RUN_PREFIX}-*", ignore=[404])


@pytest.fixture(scope="session")
def os_client(opensearch_url: str):  # noqa: ANN201
    from visearch.commands.options import env_credentials
    from visearch.engine.connection import make_client

    # A secured cluster: OPENSEARCH_CA_CERTS, OPENSEARCH_USER, OPENSEARCH_PASSWORD.
    client = make_client(opensearch_url, engine=TEST_ENGINE, **env_credentials())
    yield client
    drop_indices(client, f"{RUN_PREFIX}-*")
    client.indices.delete_index_template(name=f"{RUN_PREFIX}-*", ignore=[404])


@pytest.fixture
def index_name(os_client) -> Iterator[str]:  # noqa: ANN001
    """A fresh `test-…` name; whatever is created under it is deleted afterwards."""
    name = f"{RUN_PREFIX}-{uuid.uuid4().hex[:8]}"
    yield name
    drop_indices(os_client, f"{name}*")


@pytest.fixture(scope="session")
def encoder():  # noqa: ANN201
    """The real-weights encoder (EfficientNet-Lite0), loaded once per run."""
    from visearch.vectors import load_encoder

    return load_encoder(ENCODER)


# The search index most query-side tests share: the first 300 fashion products, embedded by
# EfficientNet-Lite0, with deterministic synthetic price, stock and popularity (the catalog
# has none) so price ranges, price stats and boosts have something to work on.


@pytest.fixture(scope="session")
def search_rows() -> list[dict[str, str]]:
    return [with_business_fields(row) for row in fashion_rows(SEARCH_SLICE)]


@pytest.fixture(scope="session")
def search_alias(os_client, search_rows, encoder, tmp_path_factory) -> Iterator[str]:  # noqa: ANN001
    """One index of the 300 products, built once per run by the real ingest pipeline and
    shared by the search, HTTP API and browser tests (none of them writes to it)."""
    from visearch.mappings.install import template_name

    name = f"{RUN_PREFIX}-search"
    catalog = write_catalog(tmp_path_factory.mktemp("search") / "catalog.csv", search_rows)
    summary = ingest(os_client, catalog, name, encoder, images_dir=FASHION)
    assert (summary.embedded, summary.failed) == (SEARCH_SLICE, 0)
    yield name
    drop_indices(os_client, f"{name}*")
    os_client.indices.delete_index_template(name=template_name(name), ignore=[404])


class LoopbackHTTP:
    """A tiny HTTP server on 127.0.0.1: GET `path` answers `files[path]` (else 404) and
    records each request's Host header."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hosts: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                owner.hosts.append(self.headers["Host"])
                data = owner.files.get(self.path)
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"


@pytest.fixture
def loopback_http() -> Iterator[LoopbackHTTP]:
    served = LoopbackHTTP()
    threading.Thread(target=served.server.serve_forever, daemon=True).start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The shared data set is part of the contract: fail loudly if it is missing."""
    if not FASHION.joinpath("catalog.csv").exists():
        raise pytest.UsageError(f"real data not found at {DATA}; clone with ../shared beside it")
