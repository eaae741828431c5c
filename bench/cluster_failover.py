"""Node failures that lose nothing: a three-node local cluster under search load loses a node
to SIGKILL in the middle of an ingest, then every node is restarted in turn (bench/failover.py
says how). Prints the searches run and failed (after the client's retries), the attempts the
client retried, latency, the ingest's outcome against the catalog, and the time back to green.

Targets: 0 failed searches in both parts; the ingest ends with exactly the catalog's products
(count and distinct skus) and no failed rows; the cluster is green again.

    .venv/bin/python bench/cluster_failover.py [--products 2000] [--clients 8] [--down-s 15]
        [--opensearch-url http://127.0.0.1:9340] [--heap 1g] [--skip-rolling] [--keep] [--json]

It starts (and afterwards stops, unless --keep) its own cluster from the node cache on three
loopback ports from the URL's (HTTP port + 100: transport), so the shared node is not touched.
`--products 400 --skip-rolling` is a quick check (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

SEARCH_PRODUCTS = 300


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opensearch-url", default="http://127.0.0.1:9340")
    parser.add_argument("--products", type=int, default=2000, help="Products the ingest writes.")
    parser.add_argument("--clients", type=int, default=8, help="Search threads.")
    parser.add_argument("--down-s", type=float, default=15.0, help="Seconds the node stays dead.")
    parser.add_argument("--heap", default="1g", help="Heap per node.")
    parser.add_argument("--skip-rolling", action="store_true")
    parser.add_argument("--keep", action="store_true", help="Leave the cluster running.")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def start_cluster(url: str, heap: str, environ: dict[str, str]) -> Any:
    from visearch.commands.node import cluster_for
    from visearch.scripts import opensearch_cluster

    cluster = cluster_for(url, environ, nodes=3, heap=heap)
    log(f"starting {', '.join(cluster.urls)} (heap {heap} each)")
    opensearch_cluster.up(cluster, environ)
    return cluster


def run(
    cluster: Any,
    products: int,
    clients: int,
    down_s: float,
    rolling: bool,
    environ: dict[str, str],
    say: Callable[[str], None] = log,
) -> dict[str, Any]:
    """Both parts on a running three-node `cluster`; the report."""
    from bench import failover
    from visearch.engine.connection import make_client
    from visearch.plugin.search import Searcher

    client = make_client(",".join(cluster.urls), timeout_s=60)
    report: dict[str, Any] = {"nodes": len(cluster.nodes), "clients": clients}
    with tempfile.TemporaryDirectory() as folder:
        for alias in (failover.SEARCH_ALIAS, failover.INGEST_ALIAS):
            failover.drop(client, alias)
        searched = failover.catalog_rows(products, SEARCH_PRODUCTS)
        say(f"building {failover.SEARCH_ALIAS} ({len(searched)} products, 3 shards, 1 replica)")
        path = failover.write_rows(Path(folder) / "search.csv", searched)
        failover.ingest(client, path, failover.SEARCH_ALIAS, (3, 1))
        failover.distinct_skus(client, failover.SEARCH_ALIAS)
        searcher = Searcher(client, failover.SEARCH_ALIAS)
        queries = failover.queries(searched)
        rows = failover.catalog_rows(0, products)
        catalog = failover.write_rows(Path(folder) / "catalog.csv", rows)
        victim = cluster.nodes[1]
        with (
            failover.RetryCounter() as retried,
            failover.SearchLoad(searcher, queries, clients, pause_s=0.02) as load,
        ):
            outcome = failover.kill_during_ingest(
                client, cluster, victim, catalog, environ, down_s, say
            )
        checked = _check_ingest(client, rows, outcome)  # takes the summary out of `outcome`
        report["kill"] = {**load.report.summary(), "retried_attempts": retried.count, **outcome}
        report["kill"].update(checked)
        if rolling:
            report["rolling"] = _rolling(cluster, searcher, queries, clients, environ, say)
    report["health"] = client.cluster.health()["status"]
    return report


def _check_ingest(client: Any, rows: list[dict[str, str]], outcome: dict[str, Any]) -> dict:
    from bench import failover

    count, skus = failover.distinct_skus(client, failover.INGEST_ALIAS)
    summary = outcome.pop("summary", None)
    return {
        "catalog_products": len(rows),
        "indexed_count": count,
        "distinct_skus_match": skus == {row["sku"] for row in rows},
        "ingest_failed_rows": None if summary is None else summary.failed,
        "ingest_embedded": None if summary is None else summary.embedded,
        "ingest_failure_reasons": [] if summary is None else summary.top_failures(3),
    }


def _rolling(
    cluster: Any,
    searcher: Any,
    queries: list[Any],
    clients: int,
    environ: dict[str, str],
    say: Callable[[str], None],
) -> dict[str, Any]:
    from bench import failover
    from visearch.scripts import opensearch_cluster

    started = time.perf_counter()
    with (
        failover.RetryCounter() as retried,
        failover.SearchLoad(searcher, queries, clients, pause_s=0.02) as load,
    ):
        opensearch_cluster.rolling_restart(cluster, environ, on_step=say)
    return {
        **load.report.summary(),
        "retried_attempts": retried.count,
        "restart_s": round(time.perf_counter() - started, 1),
    }


def print_report(report: dict[str, Any]) -> None:
    kill = report["kill"]
    print(f"{report['nodes']} nodes, 3 shards + 1 replica, {report['clients']} search clients")
    print(
        f"kill one node mid-ingest: {kill['searches']} searches, {kill['failed']} failed "
        f"({kill['retried_attempts']} attempts retried by the client), p50 {kill['p50_ms']} "
        f"ms, p95 {kill['p95_ms']} ms, max {kill['max_ms']} ms"
    )
    print(
        f"  ingest: {kill['indexed_count']} indexed of {kill['catalog_products']} "
        f"(distinct skus match: {kill['distinct_skus_match']}), failed rows "
        f"{kill['ingest_failed_rows']}, {kill['ingest_s']} s; node away {kill['node_away_s']} "
        f"s, green {kill['green_after_kill_s']} s after the kill{_error(kill)}"
    )
    if "rolling" in report:
        roll = report["rolling"]
        print(
            f"rolling restart: {roll['searches']} searches, {roll['failed']} failed "
            f"({roll['retried_attempts']} attempts retried), p95 {roll['p95_ms']} ms, max "
            f"{roll['max_ms']} ms, {roll['restart_s']} s"
        )
    print(f"cluster health after: {report['health']}")


def _error(kill: dict[str, Any]) -> str:
    return f"; ingest error: {kill['error']}" if kill.get("error") else ""


def main() -> None:
    from visearch.scripts import opensearch_cluster

    args = parse_args()
    environ = dict(os.environ)
    cluster = start_cluster(args.opensearch_url, args.heap, environ)
    try:
        report = run(
            cluster, args.products, args.clients, args.down_s, not args.skip_rolling, environ
        )
    finally:
        if not args.keep:
            opensearch_cluster.down(cluster)
    print(json.dumps(report, indent=2, default=str) if args.json else "", end="")
    if not args.json:
        print_report(report)


if __name__ == "__main__":
    main()
