"""Encoding speed of every runtime and precision, side by side, with the quality gate's figures.

For EfficientNet-Lite0 (real weights) and the ViT-B/32-shaped CLIP (random weights: the
default `CLIPConfig()` is exactly ViT-B/32, so the compute, and hence the speed, is the real
model's), in one process, each model's variants taking turns: torch as the project ran it
before runtimes (torch's own thread count), torch on one thread, and each (engine, precision)
of vectors/runtimes at the thread count it uses by default. Printed per variant: images/s at
batch 32 (decode excluded; median of interleaved passes), batch-1 p50/p95 (round-robin
queries), cosine to torch's vectors and how many top-10 neighbours survive; then the lines
`speedup <runtime/precision> over torch fp32: N.Nx`. For EfficientNet-Lite0, int8 is
calibrated on grocery's own catalog photos (`gallery_natural`, never queried) and the quality
gate runs on grocery val (296 queries, 81 gallery photos, exact cosine). The fast path is what
`--runtime auto` with `@auto` picks (EfficientNet) or the fastest variant within the gate's
cosine bound (CLIP, whose random weights make recall meaningless).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/encode_throughput.py [--images 128] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(REPO_ROOT))
SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_CLIP_DIR = Path.home() / ".cache" / "visearch" / "random-clip-vit-b-32"
EFFNET = "efficientnet-lite0"
MODELS = ("efficientnet-lite0", "clip")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=128, help="photos per pass (EfficientNet)")
    parser.add_argument("--clip-images", type=int, default=64, help="photos per pass (CLIP)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--passes", type=int, default=3, help="interleaved passes per variant")
    parser.add_argument("--queries", type=int, default=40, help="batch-1 queries per variant")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="runtime threads (default: the runtimes' own choice, half the cores)",
    )
    parser.add_argument(
        "--compare-threads",
        type=int,
        default=os.cpu_count(),
        help="also run the int8 variants on this many threads (default: all cores), to show "
        "what the thread policy saves",
    )
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--data-dir", type=Path, default=SHARED)
    parser.add_argument("--clip-dir", type=Path, default=DEFAULT_CLIP_DIR)
    parser.add_argument("--cache-dir", type=Path, default=None, help="exported models' cache")
    parser.add_argument("--json", action="store_true", help="also print results as JSON")
    return parser.parse_args(argv)


def photos(data_dir: Path, n: int) -> tuple[list[Any], float]:
    """The first `n` fashion photos, decoded (and the decode rate, for reference)."""
    from visearch.vectors.images import load_image

    files = sorted((data_dir / "fashion" / "images").glob("*.jpg"))[:n]
    started = time.perf_counter()
    images = [load_image(str(path)) for path in files]
    return images, len(images) / (time.perf_counter() - started)


def runtime_for(args: argparse.Namespace, **data: Any) -> Any:
    from visearch.vectors import Runtime

    cache = {"cache_dir": args.cache_dir} if args.cache_dir else {}
    return Runtime("auto", args.threads, **cache, **data)


def measure_model(spec: str, runtime: Any, images: list[Any], args: argparse.Namespace) -> list:
    from bench.encode_variants import build_variants, fidelity, latency, throughput
    from visearch.vectors.runtimes.build import Variant as RuntimeVariant
    from visearch.vectors.runtimes.families import family_for
    from visearch.vectors.runtimes.sessions import cpu_has_bf16

    family = family_for(spec)
    combos = [
        (engine, precision)
        for precision, engines in family.engines.items()
        for engine in engines
        if precision != "bf16" or cpu_has_bf16()
    ]
    RuntimeVariant.of(family, runtime).manifest()  # export first, so no load is timed with it
    variants = build_variants(spec, runtime, args.batch_size, combos, args.compare_threads)
    throughput(variants, images, args.passes)
    latency(variants, images, args.queries)
    fidelity(variants, images)
    return variants


def gate_figures(variants: list, runtime: Any) -> dict[str, Any]:
    """The gate's judgement of every exported variant on the labelled set, fp32 (ONNX
    Runtime) as the reference; torch needs none (the fp32 exports reproduce it)."""
    from visearch.vectors.runtimes.gate import GateRun, LabelledSet

    data = LabelledSet.read(runtime.quality)
    reference = next(v.encoder for v in variants if v.label == "onnx/fp32")
    run = GateRun(data, reference)
    verdicts = {
        v.label: run.judge(v.label, v.encoder).as_dict()
        for v in variants
        if not v.label.startswith("torch")
    }
    described = (
        f"{data.id}: {len(data.queries)} queries x {len(data.gallery)} gallery photos, "
        "exact cosine; int8 calibrated on 256 of grocery's catalog photos outside it"
    )
    return {"set": described, "reference": run.reference_recall, "verdicts": verdicts}


def effnet(args: argparse.Namespace, images: list[Any], note: str) -> dict[str, Any]:
    from bench.encode_report import print_fast_path, print_gate, print_model, rows
    from visearch.vectors import load_encoder

    grocery = args.data_dir / "grocery"
    runtime = runtime_for(args, calibration=grocery / "gallery_natural.csv", quality=grocery)
    variants = measure_model(EFFNET, runtime, images, args)
    table = rows(variants, len(images))
    print_model("EfficientNet-Lite0 (real weights)", table, note)
    gate = gate_figures(variants, runtime)
    print_gate(gate)
    fast = load_encoder(f"{EFFNET}@auto", runtime=runtime)  # what `auto` picks, gate and all
    label = f"{fast.engine}/{fast.precision}"
    result = print_fast_path(EFFNET, table, label, f"auto's choice, {fast.name}")
    return {"variants": table, "gate": gate, "fast_path": result}


def clip(args: argparse.Namespace, images: list[Any], note: str) -> dict[str, Any]:
    from bench.encode_report import print_fast_path, print_model, rows
    from visearch.scripts.random_clip import save_random_clip

    spec = f"clip:{save_random_clip(args.clip_dir)}"  # the default CLIPConfig(): ViT-B/32
    variants = measure_model(spec, runtime_for(args), images, args)
    table = rows(variants, len(images))
    print_model("CLIP ViT-B/32 shape (random weights: speed and fidelity only)", table, note)
    within = [r for r in table[1:] if r["mean_cosine"] >= 0.99 and "torch" not in r["variant"]]
    best = max(within, key=lambda r: r["img_per_s"])
    result = print_fast_path("clip", table, best["variant"], "fastest with cosine to fp32 >= 0.99")
    return {"variants": table, "fast_path": result}


def describe_machine(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from bench.encode_variants import _TORCH_DEFAULT
    from visearch.vectors.runtimes import default_threads

    return {
        "cpus": os.cpu_count(),
        "torch_threads": _TORCH_DEFAULT.setdefault("threads", torch.get_num_threads()),
        "runtime_threads": args.threads or default_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the hub is unreachable: fail fast
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    machine = describe_machine(args)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Loading weights" bars on every CLIP load
    print(
        f"{machine['cpus']} CPUs, torch {machine['torch']} on {machine['torch_threads']} "
        f"threads (its default), runtimes on {machine['runtime_threads']} thread(s), "
        f"load average {machine['load_average']}"
    )
    results: dict[str, Any] = {"machine": machine}
    for model in args.models:
        n = args.images if model == EFFNET else args.clip_images
        images, decode_rate = photos(args.data_dir, n)
        note = (
            f"{n} fashion photos, batch {args.batch_size}, decode excluded (decoding alone: "
            f"{decode_rate:.0f} img/s); img/s = median of {args.passes} interleaved passes; "
            f"{args.queries} batch-1 queries per variant, round-robin"
        )
        results[model] = (effnet if model == EFFNET else clip)(args, images, note)
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
