"""Ingest speed on the full fashion catalog, against the raw encoder, in one run.

Prints two ratios (the targets of the ingest issue):
  * end-to-end images/s of a first `visearch ingest` run (read, hash, decode, embed, bulk
    index, refresh) divided by the raw encoder's images/s on the same images, already
    decoded in memory (target >= 0.90);
  * the time of an unchanged rerun divided by the first run (target <= 0.03).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/ingest_throughput.py [--limit N] [--json]

It needs OpenSearch (OPENSEARCH_URL, default the local node: `visearch opensearch up`) and
writes to the alias `bench-ingest` (deleted first).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cli import env_opensearch_url

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CATALOG = REPO_ROOT.parent / "shared" / "data" / "fashion" / "catalog.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--limit", type=int, default=0, help="Use only the first N products.")
    parser.add_argument("--encoder", default="efficientnet-lite0")
    parser.add_argument("--alias", default="bench-ingest")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from ingest.catalog import read_catalog
    from ingest.encoders import load_encoder
    from ingest.images import load_image
    from ingest.pipeline import IngestOptions, run_ingest
    from plugin.connection import make_client

    catalog = read_catalog(args.catalog)
    if args.limit:
        catalog.products[:] = catalog.products[: args.limit]
        catalog.seen_skus.intersection_update(p.sku for p in catalog.products)
        catalog.rows = len(catalog.products)
    base_dir = args.catalog.resolve().parent
    encoder = load_encoder(args.encoder, device=args.device, batch_size=args.batch_size)
    client = make_client(args.opensearch_url, timeout_s=120)

    # 1. The raw encoder on the same images, decoded beforehand (not timed). It is timed
    # again after the ingest, and the faster pass counts, so machine noise can only make
    # the ratio look worse, never better.
    images = [load_image(p.image, base_dir) for p in catalog.products]
    encoder.embed_images(images[: args.batch_size])  # warm-up

    def raw_pass() -> float:
        started = time.perf_counter()
        for start in range(0, len(images), args.batch_size):
            encoder.embed_images(images[start : start + args.batch_size])
        return time.perf_counter() - started

    raw_runs = [raw_pass()]

    # 2. A first ingest from scratch, end to end.
    client.indices.delete(index=f"{args.alias}-v*", ignore_unavailable=True)
    options = IngestOptions(batch_size=args.batch_size, workers=args.workers)

    def ingest() -> dict:
        summary = run_ingest(
            client, catalog, base_dir, args.alias, encoder.name, lambda: encoder, options
        )
        return summary.as_dict()

    first = ingest()
    # 3. An unchanged rerun.
    rerun = ingest()
    raw_runs.append(raw_pass())
    raw_seconds = min(raw_runs)

    n = len(catalog.products)
    raw_rate = n / raw_seconds
    e2e_rate = first["embedded"] / first["seconds"]
    result = {
        "encoder": encoder.name,
        "products": n,
        "raw_encoder_images_per_s": round(raw_rate, 2),
        "raw_encoder_passes_s": [round(s, 2) for s in raw_runs],
        "end_to_end_images_per_s": round(e2e_rate, 2),
        "end_to_end_over_raw": round(e2e_rate / raw_rate, 3),
        "first_run_s": first["seconds"],
        "unchanged_rerun_s": rerun["seconds"],
        "rerun_over_first": round(rerun["seconds"] / first["seconds"], 4),
        "first_run": first,
        "rerun": rerun,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"encoder {result['encoder']}, {n} products, batch {args.batch_size}")
    passes = ", ".join(f"{s:.1f} s" for s in raw_runs)
    print(f"raw encoder            {raw_rate:8.2f} images/s  (best of passes: {passes})")
    print(f"end-to-end first run   {e2e_rate:8.2f} images/s  ({first['seconds']:.1f} s)")
    print(f"  end-to-end / raw     {result['end_to_end_over_raw']:8.3f}   (target >= 0.90)")
    print(f"unchanged rerun        {rerun['seconds']:8.2f} s")
    print(f"  rerun / first run    {result['rerun_over_first']:8.4f}   (target <= 0.03)")
    print(f"first run stages (s): {first['stage_seconds']}")
    print(f"rerun stages (s):     {rerun['stage_seconds']}")


if __name__ == "__main__":
    main()
