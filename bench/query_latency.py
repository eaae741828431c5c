"""Query latency per stage, and kNN recall against exact search, through the real Searcher.

Two parts, each on its own alias (cached between runs):

* **fashion**: the 9,261-product fashion catalog embedded by EfficientNet-Lite0 (alias
  `bench-fashion`, built with the real ingest pipeline if missing; `bench-ingest`, which
  bench/ingest_throughput.py leaves behind, is reused when it holds the same catalog with the
  same encoder and today's mapping version). Catalog photos are the queries: image path in,
  real loader and encoder, facets colour_group/article_type/gender/brand, and a hard filter
  on the photo's category. `--runtimes torch,auto@auto` runs the same queries through each
  runtime in turn (interleaved, so both see the same load; an int8 encoder gets its own alias,
  `bench-fashion-int8`) and checks total p95 / encode p95 <= 1.3 and that the last runtime's
  total p95 is at most half the first's.
* **synthetic**: `--synthetic-size` (default 200,000) clustered unit vectors of CLIP
  ViT-B/32's dimension (512), shaped like real embeddings (see `make_synthetic`), with skewed
  attributes, bulk-loaded into an index made from our template (alias
  `bench-synthetic-200k`) and force-merged. Queries are perturbed dataset vectors; each runs
  through `Searcher.search` with the facets and a hard filter selecting ~20%
  (category=Footwear) or ~2% (category=Sports) of the products, twice: with queries near
  random products ("any": mostly photos of other categories, the worst case for filtered
  HNSW, since category follows the vectors) and near products the filter selects ("match":
  a shoe photo filtered to Footwear). recall@10 is measured against numpy brute force
  (cosine) over the filtered subset. The synthetic index has no photos, so the query vectors
  travel as 1x1 "images" whose pixel names a row of the prepared query matrix, which a
  stand-in encoder (`QueryMatrixEncoder`) hands back: the rest of the request path (schema
  and encoder checks, knn clause with the efficient filter, facets, ranking) is the real
  one, and no vector hook is needed in the public API. `--candidates-sweep` repeats the
  filtered rows with other pool sizes N (N is the lucene k, i.e. its candidate list).

Warm-up queries (`--warmup`, other photos/vectors) run first and are discarded. Percentiles
are over `--queries` searches per row. Targets: recall@10 >= 0.98 with each filter, and
OpenSearch p95 (took and round trip) <= 30 ms for kNN + filter + facets at 200k. The machine's
load average is printed with the figures: on a shared machine, compare runs only at a
similar load.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/query_latency.py [--queries 200]
        [--synthetic-size 200000] [--rebuild] [--skip-fashion] [--skip-synthetic] [--json]
        [--runtimes torch,auto@auto] [--urls http://127.0.0.1:9200,http://127.0.0.1:9250]

`--urls` measures several clusters side by side in one run (OpenSearch and Elasticsearch:
the engine of each is detected): each fashion query and each synthetic row runs on each
cluster in turn, and one table puts their round trip p50/p95, `took` p95 and recall@10 next
to each other.

It needs OpenSearch (OPENSEARCH_URL, default the local node: `visearch opensearch up`). The
first synthetic run bulk-loads and force-merges the index (minutes); later runs reuse it
unless its document count or vectors differ, or `--rebuild` is given.

The code: this file parses the flags and runs the parts; bench/latency_fashion.py is the
fashion part; bench/latency_synthetic.py measures the synthetic part, on the catalog of
bench/latency_synthetic_data.py in the index of bench/latency_synthetic_index.py;
bench/latency_common.py holds what both share (stages, facets, targets, percentiles, the
query loop) and bench/latency_report.py the checks and the printed tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from visearch.commands.options import env_opensearch_url

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python bench/query_latency.py` as well as `-m bench...`
    sys.path.insert(0, str(REPO_ROOT))

DEFAULT_CATALOG = REPO_ROOT.parent / "shared" / "data" / "fashion" / "catalog.csv"


def parse_args() -> argparse.Namespace:
    from bench.runtime_args import add_runtime_args

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200, help="Measured queries per scenario.")
    parser.add_argument("--warmup", type=int, default=20, help="Discarded queries first.")
    parser.add_argument("--synthetic-size", type=int, default=200_000)
    parser.add_argument("--rebuild", action="store_true", help="Rebuild the synthetic index.")
    parser.add_argument("--skip-fashion", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument(
        "--candidates-sweep",
        type=lambda text: [int(x) for x in text.split(",") if x.strip()],
        default=[10, 50, 100, 400],
        help="Pool sizes (the lucene k) to also measure with each filter; '' for none.",
    )
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--encoder", default="efficientnet-lite0")
    add_runtime_args(parser)
    parser.add_argument("--fashion-alias", default="bench-fashion")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument(
        "--engine",
        choices=("auto", "opensearch", "elasticsearch"),
        default="auto",
        help="The cluster's engine (auto: ask it); the same library and requests on both.",
    )
    parser.add_argument(
        "--urls",
        type=lambda text: [u.strip() for u in text.split(",") if u.strip()],
        default=None,
        help="Clusters to measure side by side (e.g. the local OpenSearch and Elasticsearch: "
        "http://127.0.0.1:9200,http://127.0.0.1:9250), each part on each in turn; one table.",
    )
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The report of each cluster (`--urls`, else `--opensearch-url`): engine and version,
    load average before and after, each part, checks. With several clusters, every query of
    the fashion part and every row of the synthetic part runs on each cluster in turn, so
    they see the same load."""
    from bench.latency_common import load_average
    from bench.latency_fashion import fashion_parts
    from bench.latency_report import checks, side_by_side
    from bench.latency_synthetic import synthetic_parts
    from visearch.engine.connection import make_client

    urls = args.urls or [args.opensearch_url]
    engine = args.engine if len(urls) == 1 else "auto"
    clients = [make_client(url, timeout_s=120, engine=engine) for url in urls]
    reports = [
        _header(client, url) | {"load_before": load_average()}
        for client, url in zip(clients, urls, strict=True)
    ]
    if not args.skip_fashion:
        log("fashion: " + ", ".join(f"{r['engine']} {r['opensearch']}" for r in reports))
        for report, part in zip(reports, fashion_parts(clients, args), strict=True):
            report["fashion"] = part
    if not args.skip_synthetic:
        log("synthetic: " + ", ".join(f"{r['engine']} {r['opensearch']}" for r in reports))
        for report, part in zip(reports, synthetic_parts(clients, args, log), strict=True):
            report["synthetic"] = part
    for report in reports:
        report["load_after"] = load_average()
        report["checks"] = checks(report)
    if len(reports) == 1:
        return reports[0]
    return {"runs": reports, "side_by_side": side_by_side(reports)}


def _header(client: Any, url: str) -> dict[str, Any]:
    """Where: the URL, the engine and its version (Elasticsearch's from the nodes info the
    client read: the Maven Central node answers no GET /)."""
    dialect = getattr(client, "dialect", None)
    return {
        "opensearch_url": url,
        "engine": dialect.engine if dialect else "opensearch",
        "opensearch": dialect.version if dialect else client.info()["version"]["number"],
    }


def main() -> None:
    args = parse_args()
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    from bench.latency_report import print_report, print_side_by_side

    for one in report.get("runs") or [report]:
        print(f"\n=== {one['engine']} {one['opensearch']} at {one['opensearch_url']}")
        print_report(one)
    if "side_by_side" in report:
        print_side_by_side(report["side_by_side"])


if __name__ == "__main__":
    main()
