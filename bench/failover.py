"""Node failures under load, on a local cluster: the parts bench/cluster_failover.py runs.
(No test runs them: starting three nodes and waiting for green twice takes minutes here.)

* **Load**: `clients` threads search an alias (3 shards, 1 replica) through the real `Searcher`
  on a client that knows every node (engine/connection.make_client with all node URLs: a
  connection error or a 502/503/504 is sent again to the next live node). Every search that
  still raises counts as failed. Queries mix "more like this" (a GET, then kNN), kNN with
  facets and selections, keywords, and browsing.
* **Kill**: while the load runs, the real ingest pipeline writes `products` fashion products
  into another alias (3 shards, 1 replica); halfway through, one data node gets SIGKILL; it
  is started again `down_s` later. The ingest must finish with exactly the catalog (count and
  distinct skus) and the cluster must return to green.
* **Rolling restart**: while the load runs, every node in turn is stopped and started again
  (scripts/opensearch_cluster.rolling_restart).

Photos are real; the encoder is a stand-in that turns each photo into 48 pixel values
(`PixelEncoder`), so the run measures the cluster, not the model.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FASHION = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fashion"
FACETS = ("colour_group", "article_type", "gender")
SEARCH_ALIAS = "failover-search"
INGEST_ALIAS = "failover-ingest"


class PixelEncoder:
    """A 48-d "embedding": the photo at 4x4 RGB, centred and unit length. Cheap and stable."""

    name = "pixels-48"
    dim = 48
    supports_text = False

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        rows = np.array(
            [np.asarray(image.convert("RGB").resize((4, 4))).ravel() for image in images],
            dtype=np.float32,
        )
        rows -= 127.5
        rows[np.all(rows == 0, axis=1)] = 1.0
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError("pixel vectors have no text side")


class RetryCounter(logging.Handler):
    """Counts the failed attempts opensearch-py logs (each one it retried or gave up on)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1

    def __enter__(self) -> RetryCounter:
        logging.getLogger("opensearch").addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        logging.getLogger("opensearch").removeHandler(self)


@dataclass
class LoadReport:
    searches: int = 0
    failures: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_ms or [0.0])
        return {
            "searches": self.searches,
            "failed": len(self.failures),
            "failure_reasons": Counter(f[:160] for f in self.failures).most_common(5),
            "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "max_ms": round(float(lat.max()), 1),
        }


class SearchLoad:
    """`clients` threads running `queries` round-robin until stopped."""

    def __init__(self, searcher: Any, queries: Sequence[Any], clients: int, pause_s: float):
        self.searcher, self.queries, self.pause_s = searcher, list(queries), pause_s
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)
        ]

    def __enter__(self) -> SearchLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _run(self, offset: int) -> None:
        at = offset
        while not self._stop.is_set():
            params = self.queries[at % len(self.queries)]
            at += len(self._threads)
            started = time.perf_counter()
            try:
                self.searcher.search(params)
                failure = None
            except Exception as error:  # noqa: BLE001 - every failure is the figure
                failure = f"{type(error).__name__}: {str(error)[:300]}"
            elapsed = (time.perf_counter() - started) * 1000
            with self._lock:
                self.report.searches += 1
                self.report.latencies_ms.append(elapsed)
                if failure is not None:
                    self.report.failures.append(failure)
            self._stop.wait(self.pause_s)


def catalog_rows(first: int, count: int) -> list[dict[str, str]]:
    """Fashion catalog rows `first`.. with deterministic price, stock and popularity."""
    import csv

    out = []
    with (FASHION / "catalog.csv").open(newline="") as handle:
        for i, row in enumerate(csv.DictReader(handle)):
            if i >= first + count:
                break
            if i >= first:
                number = int(row["sku"])
                price, stock = f"{10 + number % 90}.5", "true" if number % 3 else "false"
                out.append({**row, "price": price, "in_stock": stock})
    return out


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    import csv

    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def ingest(
    client: Any,
    catalog: Path,
    alias: str,
    layout: tuple[int, int],
    progress: Callable[[int], None] | None = None,
) -> Any:
    """The library's ingest with the pixel encoder into `alias` (shards, replicas)."""
    from visearch.ingest.catalog import CatalogSource
    from visearch.ingest.pipeline import IngestOptions, run_ingest

    encoder = PixelEncoder()
    options = IngestOptions(shards=layout[0], replicas=layout[1], progress=progress, workers=2)
    source = CatalogSource(catalog, images_dir=FASHION)
    return run_ingest(client, source, alias, encoder.name, lambda: encoder, options)


def drop(client: Any, alias: str) -> None:
    from visearch.mappings.install import template_name

    client.indices.delete(index=f"{alias}*", ignore_unavailable=True, expand_wildcards="all")
    client.indices.delete_index_template(name=template_name(alias), ignore=[404])


def queries(rows: list[dict[str, str]]) -> list[Any]:
    """A mix of every search mode over the search alias's products."""
    from visearch.plugin.params import SearchParams

    out = []
    for i, row in enumerate(rows[:60]):
        word = row["title"].split()[-1]
        out.append(SearchParams(similar_to=row["sku"], facets=FACETS, k=10))
        out.append(SearchParams(similar_to=row["sku"], keywords=word, facets=FACETS, k=10))
        out.append(SearchParams(keywords=word, facets=FACETS, page=i % 2))
        selection = {"gender": [row["gender"]]} if row.get("gender") else {}
        out.append(SearchParams(filters=selection, facets=FACETS, page=i % 3))
    return out


def distinct_skus(client: Any, alias: str) -> tuple[int, set[str]]:
    """(document count, the distinct skus) of the alias, read after a refresh."""
    client.indices.refresh(index=alias)
    count = client.count(index=alias)["count"]
    aggs = {"skus": {"terms": {"field": "sku", "size": 10_000}}}
    found = client.search(index=alias, body={"size": 0, "aggs": aggs})
    return count, {str(b["key"]) for b in found["aggregations"]["skus"]["buckets"]}


def kill_during_ingest(
    client: Any,
    cluster: Any,
    victim: Any,
    catalog: Path,
    environ: Mapping[str, str],
    down_s: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Ingest `catalog` while the load runs; SIGKILL `victim` halfway, start it `down_s`
    later; wait for green. The ingest's summary, its timings, and the node's downtime."""
    from visearch.scripts import opensearch_cluster

    total = sum(1 for _ in catalog.open()) - 1
    done = {"n": 0}
    half = threading.Event()

    def progress(step: int) -> None:
        done["n"] += step
        if done["n"] >= total // 2:
            half.set()

    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["summary"] = ingest(client, catalog, INGEST_ALIAS, (3, 1), progress)
        except Exception as error:  # noqa: BLE001 - reported
            outcome["error"] = f"{type(error).__name__}: {error}"

    started = time.perf_counter()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    half.wait(timeout=1800)
    log(f"{done['n']} of {total} products read: SIGKILL {victim.node_name}")
    opensearch_cluster.kill(victim)
    killed_at = time.perf_counter()
    time.sleep(down_s)
    log(f"starting {victim.node_name} again")
    opensearch_cluster.restart(cluster, victim, environ)
    rejoined_s = time.perf_counter() - killed_at
    worker.join(timeout=1800)
    log("ingest finished; waiting for green")
    opensearch_cluster.wait_until(cluster, len(cluster.nodes), "green", 600)
    return {
        **outcome,
        "ingest_s": round(time.perf_counter() - started, 1),
        "node_away_s": round(rejoined_s, 1),
        "green_after_kill_s": round(time.perf_counter() - killed_at, 1),
    }
