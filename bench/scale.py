"""Scale figures on a cluster: a million synthetic 512-d products over three shards.

The catalog is bench/latency_synthetic_data.py's (clustered, anisotropic unit vectors shaped
like real image embeddings, skewed attributes) at `--size` (default 1,000,000), loaded once per
vector encoding into an index with `--shards` primaries (bench/scale_index.py): `fp32`
(lucene HNSW, m 16, ef_construction 128, the template as shipped) and `sq` (the same with
Lucene's 7-bit scalar quantization). For each it measures, through the real `Searcher` (the
exact multi-shard path: per-shard k = N, a global cut, facets over the global pool):

* recall@10 against exact cosine (numpy over all products) with no filter, a 20% filter
  (category=Footwear) and a 2% filter (category=Sports), queries near random products and
  near products the filter selects (bench/latency_synthetic.py);
* OpenSearch took and round-trip p50/p95 of those searches (four facets, pool 200, k 10),
  and of the same searches sent the one-request way (what the exact path costs);
* index size on disk and the search working set (HNSW graph + the vectors it compares) per
  million products, and the JVM heap of the nodes;

then prints an estimate of nodes, memory and disk for 10M and 100M products from these
figures (bench/scale_report.py). Targets: recall@10 >= 0.98, p95 <= 50 ms.

    .venv/bin/visearch opensearch up --nodes 3          # with OPENSEARCH_URL=http://127.0.0.1:9320
    .venv/bin/python bench/scale.py --opensearch-url http://127.0.0.1:9320,http://127.0.0.1:9321,\\
        http://127.0.0.1:9322 [--size 1000000] [--variants fp32,sq] [--build-only] [--json]

The first run bulk-loads and force-merges each index (on 2 cores: hours for a million); later
runs reuse them while they hold the same catalog.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python bench/scale.py` as well as `-m bench.scale`
    sys.path.insert(0, str(REPO_ROOT))

from visearch.commands.options import env_opensearch_url  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=0)
    parser.add_argument("--variants", default="fp32,sq", help="Comma-separated: fp32, sq.")
    parser.add_argument("--queries", type=int, default=200, help="Measured queries per row.")
    parser.add_argument("--warmup", type=int, default=20, help="Discarded queries first.")
    parser.add_argument("--rebuild", action="store_true", help="Rebuild the indices.")
    parser.add_argument("--build-only", action="store_true", help="Build, measure nothing.")
    parser.add_argument(
        "--reuse-only", action="store_true", help="Measure cached indices; never build one."
    )
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.latency_common import load_average
    from bench.latency_synthetic_data import make_synthetic
    from bench.scale_index import ensure_index, index_sizes
    from visearch.engine.connection import make_client

    client = make_client(args.opensearch_url, timeout_s=600)
    started = time.perf_counter()
    data = make_synthetic(args.size)
    log(f"generated {len(data):,} products in {time.perf_counter() - started:.0f} s")
    report: dict[str, Any] = {
        "opensearch": client.info()["version"]["number"],
        "cluster": _cluster(client),
        "size": args.size,
        "layout": {"shards": args.shards, "replicas": args.replicas},
        "load_before": load_average(),
        "variants": {},
    }
    for variant in args.variants:
        layout = (args.shards, args.replicas)
        place = ensure_index(
            client, data, variant, layout, log, rebuild=args.rebuild, reuse_only=args.reuse_only
        )
        entry = {**place, "sizes": index_sizes(client, place["alias"])}
        if not args.build_only:
            from bench.scale_measure import measure_variant

            entry["rows"] = measure_variant(client, place["alias"], data, args, log)
        report["variants"][variant] = entry
        log(f"{variant} done ({time.perf_counter() - started:.0f} s so far)")
    report["nodes_after"] = _cluster(client)
    report["load_after"] = load_average()
    return report


def _cluster(client: Any) -> dict[str, Any]:
    """Node count and each node's heap use: what the JVMs hold beside the page cache."""
    health = client.cluster.health()
    stats = client.nodes.stats(metric="jvm,os")["nodes"].values()
    return {
        "nodes": health["number_of_nodes"],
        "status": health["status"],
        "heap_used_bytes": [n["jvm"]["mem"]["heap_used_in_bytes"] for n in stats],
        "heap_max_bytes": [n["jvm"]["mem"]["heap_max_in_bytes"] for n in stats],
        "machine_memory_bytes": max(n["os"]["mem"]["total_in_bytes"] for n in stats),
    }


def main() -> None:
    args = parse_args()
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    from bench.scale_report import print_report

    print_report(report)


if __name__ == "__main__":
    main()
