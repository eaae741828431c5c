"""Encoding throughput (images/s) of CLIP ViT-B/32 and EfficientNet-Lite0, with/without decoding.

Ingest speed is bounded by decode + embed, so both are measured: "incl. decode" reads and decodes
each batch with ``ingest.images.load_image`` before embedding it (what a single-threaded ingest
does); "excl. decode" embeds images already decoded in memory (the model's own ceiling). CLIP has
random weights here (the hub is unreachable), but the default ``CLIPConfig()`` is exactly
ViT-B/32, so the compute and hence the figures match the real ``clip-ViT-B-32``.

Each figure is the best of ``--repeats`` passes (the two modes interleaved), since on a shared
2-core machine a single pass is easily slowed by other processes.

    HF_HUB_OFFLINE=1 python bench/encode_throughput.py [--images 256] [--batch-size 32] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "fashion"
DEFAULT_CLIP_DIR = Path.home() / ".cache" / "visearch" / "random-clip-vit-b-32"
ENCODERS = ("clip", "efficientnet-lite0")


def catalog_refs(data_dir: Path, n: int) -> list[str]:
    """First ``n`` image references of the catalog, relative to ``data_dir``."""
    with open(data_dir / "catalog.csv", newline="") as f:
        refs = [row["image"] for row in csv.DictReader(f)][:n]
    if len(refs) < n:
        raise SystemExit(f"catalog has only {len(refs)} images, --images asked for {n}")
    return refs


def batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(label: str, spec: str, refs: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Warm up on one batch, then time embed-only and decode+embed passes over all ``refs``."""
    from visearch.vectors import load_encoder
    from visearch.vectors.images import load_image

    load_s = time.perf_counter()
    encoder = load_encoder(spec, device=args.device, batch_size=args.batch_size)
    load_s = time.perf_counter() - load_s

    def decode(chunk: list[str]) -> list[Any]:
        return [load_image(ref, base_dir=args.data_dir) for ref in chunk]

    decoded: list[Any] = []
    decode_s = timed(lambda: decoded.extend(decode(refs)))
    encoder.embed_images(decoded[: args.batch_size])  # warm-up: allocator, kernels, caches

    # Chunks of batch_size keep memory flat, as ingest does; each call is one model batch.
    image_chunks = batches(decoded, args.batch_size)
    ref_chunks = batches(refs, args.batch_size)
    passes: dict[str, Callable[[], object]] = {
        "excl": lambda: [encoder.embed_images(chunk) for chunk in image_chunks],
        "incl": lambda: [encoder.embed_images(decode(chunk)) for chunk in ref_chunks],
    }
    best = {mode: float("inf") for mode in passes}
    for rep in range(args.repeats):
        # Alternate which mode goes first, so neither always inherits the other's aftermath.
        for mode in sorted(passes, reverse=rep % 2 == 1):
            best[mode] = min(best[mode], timed(passes[mode]))
    n = len(refs)
    return {
        "label": label,
        "encoder": encoder.name,
        "dim": encoder.dim,
        "device": getattr(encoder, "device", args.device),
        "load_s": round(load_s, 2),
        "decode_only_img_s": round(n / decode_s, 1),
        "excl_decode_img_s": round(n / best["excl"], 1),
        "incl_decode_img_s": round(n / best["incl"], 1),
    }


def print_table(results: list[dict[str, Any]], meta: dict[str, Any], out: Any) -> None:
    print(
        f"{meta['images']} images, batch {meta['batch_size']}, best of {meta['repeats']}, "
        f"torch threads "
        f"{meta['torch_threads']}, {meta['cpu_count']} CPUs, torch {meta['torch']}",
        file=out,
    )
    header = ("encoder", "dim", "device", "excl. decode", "incl. decode", "decode only", "load s")
    rows = [
        (
            r["label"],
            str(r["dim"]),
            r["device"],
            f"{r['excl_decode_img_s']:.1f} img/s",
            f"{r['incl_decode_img_s']:.1f} img/s",
            f"{r['decode_only_img_s']:.0f} img/s",
            f"{r['load_s']:.1f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)), file=out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256, help="images to encode (default 256)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="passes per mode; best is kept")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if present)")
    parser.add_argument("--json", action="store_true", help="also print results as JSON")
    parser.add_argument("--encoders", nargs="+", choices=ENCODERS, default=list(ENCODERS))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--clip-dir", type=Path, default=DEFAULT_CLIP_DIR, help="random ViT-B/32 cache dir"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # The hub is unreachable on bench machines; fail fast instead of retrying the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if str(REPO_ROOT) not in sys.path:  # run as a plain script from anywhere
        sys.path.insert(0, str(REPO_ROOT))
    import torch

    from visearch.scripts.random_clip import save_random_clip

    refs = catalog_refs(args.data_dir, args.images)
    specs = []
    for name in args.encoders:
        if name == "clip":  # default CLIPConfig() is the ViT-B/32 shape
            clip_dir = save_random_clip(args.clip_dir)
            specs.append(("CLIP ViT-B/32 (random weights)", f"clip:{clip_dir}"))
        else:
            specs.append((name, name))
    results = [measure(label, spec, refs, args) for label, spec in specs]
    meta = {
        "images": args.images,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    print_table(results, meta, sys.stdout)
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
