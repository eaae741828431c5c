"""Ingest speed on the full fashion catalog, against the raw encoder, in one run.

Prints two ratios (the targets of the ingest issue) per encoder runtime:
  * end-to-end images/s of a first `visearch ingest` run (read, hash, decode, embed, bulk
    index, refresh) divided by the raw encoder's images/s on the same images, already
    decoded in memory (target >= 0.90);
  * the time of an unchanged rerun divided by the first run (target <= 0.03).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/ingest_throughput.py [--limit N] [--json]
        [--runtimes torch,auto@auto]

`--runtimes` measures each runtime (and precision) in turn in the same run, so torch and the
fast path are compared at the same machine load, and prints the end-to-end speedup over the
first. It needs OpenSearch (OPENSEARCH_URL, default the local node: `visearch opensearch up`)
and writes to the alias `bench-ingest` (deleted first), or `bench-ingest-<runtime>` for each
of several runtimes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visearch.commands.options import env_opensearch_url

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python bench/ingest_throughput.py` as well as `-m bench...`
    sys.path.insert(0, str(REPO_ROOT))
DEFAULT_CATALOG = REPO_ROOT.parent / "shared" / "data" / "fashion" / "catalog.csv"


@dataclass
class Measured:
    """The raw encoder passes (seconds) and the first and unchanged-rerun ingest summaries."""

    encoder: str
    runtime: str
    products: int
    raw_runs: list[float]
    first: dict
    rerun: dict

    @property
    def raw_rate(self) -> float:
        """Images/s of the faster raw encoder pass."""
        return self.products / min(self.raw_runs)

    @property
    def e2e_rate(self) -> float:
        """Images/s of the first ingest, end to end."""
        return self.first["photos_embedded"] / self.first["seconds"]

    def as_dict(self) -> dict[str, Any]:
        first, rerun = self.first, self.rerun
        return {
            "encoder": self.encoder,
            "runtime": self.runtime,
            "products": self.products,
            "raw_encoder_images_per_s": round(self.raw_rate, 2),
            "raw_encoder_passes_s": [round(s, 2) for s in self.raw_runs],
            "end_to_end_images_per_s": round(self.e2e_rate, 2),
            "end_to_end_over_raw": round(self.e2e_rate / self.raw_rate, 3),
            "first_run_s": first["seconds"],
            "unchanged_rerun_s": rerun["seconds"],
            "rerun_over_first": round(rerun["seconds"] / first["seconds"], 4),
            "first_run": first,
            "rerun": rerun,
        }


def parse_args() -> argparse.Namespace:
    from bench.runtime_args import add_runtime_args

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--limit", type=int, default=0, help="Use only the first N products.")
    parser.add_argument("--encoder", default="efficientnet-lite0")
    parser.add_argument("--alias", default="bench-ingest")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--device", default=None)
    add_runtime_args(parser)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def raw_pass(encoder: Any, images: list[Any], batch_size: int) -> float:
    """Seconds to embed `images` (already decoded) batch by batch."""
    started = time.perf_counter()
    for start in range(0, len(images), batch_size):
        encoder.embed_images(images[start : start + batch_size])
    return time.perf_counter() - started


def measure(
    args: argparse.Namespace, client: Any, encoder: Any, catalog: Any, source: Any, alias: str
) -> Measured:
    """Raw encoder pass, first ingest from scratch, unchanged rerun, raw encoder pass again."""
    from visearch.ingest.pipeline import IngestOptions, run_ingest
    from visearch.vectors.images import load_image

    # 1. The raw encoder on the same images, decoded beforehand (not timed). It is timed
    # again after the ingest, and the faster pass counts, so machine noise can only make
    # the ratio look worse, never better.
    base_dir = args.catalog.resolve().parent
    images = [load_image(p.image, base_dir) for p in catalog.products]
    encoder.embed_images(images[: args.batch_size])  # warm-up
    raw_runs = [raw_pass(encoder, images, args.batch_size)]

    # 2. A first ingest from scratch, end to end.
    client.indices.delete(index=f"{alias}-v*", ignore_unavailable=True)
    options = IngestOptions(batch_size=args.batch_size, workers=args.workers)

    def ingest() -> dict:
        summary = run_ingest(client, source, alias, encoder.name, lambda: encoder, options)
        return summary.as_dict()

    first = ingest()
    # 3. An unchanged rerun.
    rerun = ingest()
    raw_runs.append(raw_pass(encoder, images, args.batch_size))
    runtime = getattr(encoder, "runtime", "torch")
    return Measured(encoder.name, runtime, len(catalog.products), raw_runs, first, rerun)


def print_result(measured: Measured, result: dict[str, Any], batch_size: int) -> None:
    first, rerun = measured.first, measured.rerun
    print(
        f"encoder {result['encoder']} on {result['runtime']}, {measured.products} products, "
        f"batch {batch_size}"
    )
    passes = ", ".join(f"{s:.1f} s" for s in measured.raw_runs)
    print(f"raw encoder            {measured.raw_rate:8.2f} images/s  (best of passes: {passes})")
    print(f"end-to-end first run   {measured.e2e_rate:8.2f} images/s  ({first['seconds']:.1f} s)")
    print(f"  end-to-end / raw     {result['end_to_end_over_raw']:8.3f}   (target >= 0.90)")
    print(f"unchanged rerun        {rerun['seconds']:8.2f} s")
    print(f"  rerun / first run    {result['rerun_over_first']:8.4f}   (target <= 0.03)")
    print(f"first run stages (s): {first['stage_seconds']}")
    print(f"rerun stages (s):     {rerun['stage_seconds']}")


def main() -> None:
    args = parse_args()

    from bench.catalogs import head_catalog
    from bench.runtime_args import runtime_sides
    from visearch.engine.connection import make_client
    from visearch.ingest.catalog import CatalogSource, read_catalog
    from visearch.vectors import load_encoder

    base_dir = args.catalog.resolve().parent
    folder = tempfile.TemporaryDirectory()
    path = args.catalog
    if args.limit:
        path = head_catalog(args.catalog, args.limit, Path(folder.name) / "catalog.csv")
    catalog = read_catalog(path)
    source = CatalogSource(path, images_dir=base_dir)
    client = make_client(args.opensearch_url, timeout_s=120)
    variants = runtime_sides(args)

    runs = []
    for variant in variants:
        encoder = load_encoder(variant.encoder, device=args.device,
                               batch_size=args.batch_size, runtime=variant.runtime)  # fmt: skip
        alias = args.alias if len(variants) == 1 else f"{args.alias}-{variant.slug}"
        measured = measure(args, client, encoder, catalog, source, alias)
        runs.append((measured, measured.as_dict()))
        if not args.json:
            print_result(measured, runs[-1][1], args.batch_size)
            print(flush=True)
    if len(runs) > 1 and not args.json:
        print_speedups(runs)
    if args.json:
        results = [result for _, result in runs]
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))


def print_speedups(runs: list[tuple[Measured, dict[str, Any]]]) -> None:
    """Each runtime's end-to-end and raw images/s over the first's, measured in this run."""
    first = runs[0][0]
    for measured, result in runs[1:]:
        print(
            f"speedup {result['encoder']} on {result['runtime']} over {first.encoder} on "
            f"{first.runtime}: end-to-end {measured.e2e_rate / first.e2e_rate:.1f}x, "
            f"raw {measured.raw_rate / first.raw_rate:.1f}x"
        )


if __name__ == "__main__":
    main()
