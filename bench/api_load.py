"""HTTP load on `visearch serve`: N concurrent clients uploading catalog photos for T seconds.

The bench starts `visearch serve` itself on a free loopback port over an existing index
(default alias `bench-ingest`: the 9,261 fashion products with EfficientNet-Lite0 that
bench/ingest_throughput.py leaves behind; `--build N` indexes the first N catalog products
into the alias instead), waits for /healthz, warms up, and then for each concurrency level
prints requests/s, p50/p95/p99 latency and the error count. Each query is a multipart upload
of a catalog photo with three facets, the page's usual request.

`--runtimes torch,auto@auto` runs the server once per encoder runtime (VISEARCH_RUNTIME), in
the same run, and prints each level's requests/s over the first runtime's; a runtime whose
precision changes the vectors serves the alias's precision twin (`bench-fashion-int8` for
`--alias bench-fashion`), as `visearch serve` always queries an index at the precision that
built it.

`--variants` runs the server once per micro-batching setting, side by side in one run:
`off` (--max-batch 1: each request runs the model alone, in its own thread), `greedy`
(--batch-window-ms 0: a batch is whatever is already waiting) and `window5` (wait up to 5 ms
for more). Other developers share the machine, so run it under the bench lock:

    flock /tmp/visearch-bench.lock .venv/bin/python bench/api_load.py \\
        [--alias bench-ingest] [--concurrency 1,4,16] [--duration 15] [--variants greedy]
        [--runtimes torch,auto@auto]

Traffic goes to 127.0.0.1 only; every loop is bounded by --duration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import orjson

from visearch.commands.options import env_opensearch_url

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

DEFAULT_CATALOG = REPO_ROOT.parent / "shared" / "data" / "fashion" / "catalog.csv"
VARIANTS = {
    "off": ["--max-batch", "1"],
    "greedy": ["--max-batch", "16", "--batch-window-ms", "0"],
    "window5": ["--max-batch", "16", "--batch-window-ms", "5"],
}
PARAMS = json.dumps({"k": 20, "facets": ["colour_group", "article_type", "gender"]})


def main() -> None:
    from bench.runtime_args import add_runtime_args

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alias", default="bench-ingest")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--build", type=int, default=0, help="Index the first N products first.")
    parser.add_argument("--concurrency", default="1,4,16", help="Comma-separated client counts.")
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds per level.")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds of discarded load.")
    parser.add_argument("--variants", default="greedy", help=f"Any of {', '.join(VARIANTS)}.")
    parser.add_argument("--photos", type=int, default=200, help="Distinct query photos.")
    parser.add_argument(
        "--encoder",
        default="efficientnet-lite0",
        help="The model the alias holds: with --runtimes, a precision's alias is picked from it.",
    )
    add_runtime_args(parser)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    levels = [int(n) for n in args.concurrency.split(",")]
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown or min(levels) < 1 or args.duration <= 0:
        parser.error(f"bad --variants {sorted(unknown)} or --concurrency/--duration")

    from visearch.ingest.catalog import read_catalog
    from visearch.web.launch import serve_in_background

    catalog = read_catalog(args.catalog)
    base_dir = args.catalog.resolve().parent
    if args.build:
        build(args)
    step = max(1, len(catalog.products) // args.photos)
    photos = [(base_dir / product.image).read_bytes() for product in catalog.products[::step]][
        : args.photos
    ]

    results = []
    for side in _serving_sides(args):
        for variant in variants:
            flags = ["--timeout-s", "30", *VARIANTS[variant]]
            environ = {**os.environ, **side["environ"]}
            serving = serve_in_background(
                args.opensearch_url, side["alias"], flags, environ=environ
            )
            with serving as base:
                asyncio.run(load(base, photos, max(levels), args.warmup))
                for clients in levels:
                    row = {"runtime": side["label"], "variant": variant, "clients": clients}
                    results.append({**row, **_level(base, photos, clients, args.duration)})
                    if not args.json:
                        print(_row(results[-1]), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print_speedups(results)


def _serving_sides(args: argparse.Namespace) -> list[dict]:
    """Per runtime of `--runtimes` (default `--runtime`): its label, the alias holding its
    precision, and the environment that makes `visearch serve` run it."""
    from bench.runtime_args import alias_for, runtime_sides
    from visearch.vectors import resolve_spec

    sides = []
    for variant in runtime_sides(args):
        runtime = variant.runtime
        environ = {"VISEARCH_RUNTIME": str(runtime)}
        if runtime.calibration:
            environ["VISEARCH_CALIBRATION"] = str(runtime.calibration)
        if runtime.quality:
            environ["VISEARCH_QUALITY_SET"] = str(runtime.quality)
        alias = alias_for(args.alias, resolve_spec(variant.encoder, runtime))
        sides.append({"label": variant.label, "alias": alias, "environ": environ})
    return sides


def _level(base: str, photos: list[bytes], clients: int, seconds: float) -> dict:
    """One concurrency level's load figures, with the micro-batcher's mean batch."""
    calls_before, images_before = _batches(base)
    stats = asyncio.run(load(base, photos, clients, seconds))
    calls_after, images_after = _batches(base)
    calls, images = calls_after - calls_before, images_after - images_before
    stats["mean_batch"] = round(images / calls, 2) if calls else 1.0
    return stats


def _print_speedups(results: list[dict]) -> None:
    """Requests/s of each runtime over the first one's, per batching setting and level."""
    first = results[0]["runtime"]
    baseline = {(r["variant"], r["clients"]): r for r in results if r["runtime"] == first}
    for r in results:
        before = baseline.get((r["variant"], r["clients"]))
        if r["runtime"] == first or before is None or not before["requests_per_s"]:
            continue
        print(
            f"speedup {r['runtime']} over {first}, {r['variant']}, {r['clients']} clients: "
            f"{r['requests_per_s'] / before['requests_per_s']:.1f}x req/s "
            f"({r['requests_per_s']} vs {before['requests_per_s']}), p95 {r['p95_ms']} vs "
            f"{before['p95_ms']} ms"
        )


def build(args: argparse.Namespace) -> None:
    """Index the first `--build` products of the catalog into the alias."""
    from bench.catalogs import head_catalog
    from visearch.engine.connection import make_client
    from visearch.ingest.catalog import CatalogSource
    from visearch.ingest.pipeline import IngestOptions, run_ingest
    from visearch.vectors import load_encoder

    with tempfile.TemporaryDirectory() as folder:
        head = head_catalog(args.catalog, args.build, Path(folder) / "catalog.csv")
        summary = run_ingest(
            make_client(args.opensearch_url, timeout_s=120),
            CatalogSource(head, images_dir=args.catalog.resolve().parent),
            args.alias,
            "efficientnet-lite0",
            lambda: load_encoder("efficientnet-lite0"),
            IngestOptions(merge=True),
        )
    print(f"indexed {summary.embedded} products into {args.alias}", file=sys.stderr)


async def load(base: str, photos: list[bytes], clients: int, seconds: float) -> dict:
    """`clients` loops posting photos until `seconds` are up; latencies of the finished ones."""
    latencies: list[float] = []
    stages: dict[str, list[float]] = {"encode_ms": [], "opensearch_ms": []}
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + seconds
    from bench.raw_http import HttpError, KeepAlive

    host = base.split("://", 1)[-1]
    requests = [KeepAlive.request("/v1/search", host, *_upload(photo)) for photo in photos]

    async def client(number: int) -> None:
        connection, i = KeepAlive(base), number
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                status, body = await connection.send(requests[i % len(requests)])
                ok, key = status == 200, "" if status == 200 else str(status)
            except HttpError as error:
                ok, key = False, str(error)
            if ok:
                latencies.append(time.perf_counter() - started)
                timings = orjson.loads(body)["timings"]
                for stage, values in stages.items():
                    values.append(timings[stage])
            else:
                errors[key] = errors.get(key, 0) + 1
            i += clients
        await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        **{f"{stage}_p50": round(float(np.median(v or [0])), 1) for stage, v in stages.items()},
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def _upload(photo: bytes) -> tuple[dict[str, str], bytes]:
    """The multipart body of one photo upload and its content type, encoded once (httpx
    encodes it, as it did for each request before): the load generator shares the 2 cores
    with the service, so it sends prepared bytes over bench/raw_http.py and reads only the
    timings with orjson. The service receives the same bytes either way."""
    files = {"image": ("query.jpg", photo, "image/jpeg")}
    request = httpx.Request("POST", "http://loopback/", files=files, data={"params": PARAMS})
    return {"content-type": request.headers["content-type"]}, request.read()


def _batches(base: str) -> tuple[int, int]:
    """The server's micro-batcher counters (encoder calls, images); zeros when it is off."""
    check = httpx.get(f"{base}/healthz", timeout=10).json()["checks"]["encoder"]
    counts = check.get("micro_batches") or {"calls": 0, "images": 0}
    return counts["calls"], counts["images"]


def _row(r: dict) -> str:
    return (
        f"{r['runtime']:<10} {r['variant']:<8} clients {r['clients']:>3}  "
        f"{r['requests_per_s']:7.2f} req/s  "
        f"batch {r['mean_batch']:5.2f}  "
        f"p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
        f"errors {r['errors']} {r['error_kinds'] or ''}  ({r['requests']} in {r['seconds']} s; "
        f"server p50: encode {r['encode_ms_p50']} ms, OpenSearch {r['opensearch_ms_p50']} ms)"
    )


if __name__ == "__main__":
    main()
