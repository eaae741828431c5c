"""The variants bench/encode_throughput.py runs side by side, and how each is measured.

A variant is one way to run a model: torch at its own thread count (the project before
runtimes), torch on one thread, and every (engine, precision) the runtimes offer for the
model, at the thread count they would use (`default_threads()`). All live in one process and
take turns: throughput passes interleave (order reversed every other pass) and batch-1 queries
go round-robin, so a busy machine slows every variant alike.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass
class Variant:
    label: str  # "openvino/int8"
    encoder: Any
    threads: int
    passes: list[float] = field(default_factory=list)  # seconds per pass over all images
    latencies: list[float] = field(default_factory=list)  # seconds per batch-1 query
    fidelity: dict[str, float] = field(default_factory=dict)

    def img_per_s(self, n: int) -> float:
        return n / statistics.median(self.passes)

    def latency_ms(self, q: float) -> float:
        return float(np.percentile(np.array(self.latencies) * 1000, q))


_TORCH_DEFAULT: dict[str, int] = {}  # torch's own count, read before any variant changes it


class TorchThreads:
    """A torch encoder that runs on `threads` threads (torch's pool is per process, so it is
    set before every call: variants with other counts share the process)."""

    def __init__(self, encoder: Any, threads: int) -> None:
        self.encoder, self.threads = encoder, threads
        self.name, self.dim = encoder.name, encoder.dim

    def embed_images(self, images: list[Any]) -> np.ndarray:
        import torch

        torch.set_num_threads(self.threads)
        return self.encoder.embed_images(images)


def build_variants(
    spec: str,
    runtime: Any,
    batch_size: int,
    combos: list[tuple[str, str]],
    more_threads: int | None = None,
) -> list[Variant]:
    """torch (default threads), torch x1, then each (engine, precision) in `combos`, opened
    without the gate (the gate is measured separately, and random-weight CLIP has none), and
    the int8 ones again on `more_threads` threads."""
    import torch

    from visearch.vectors import load_encoder
    from visearch.vectors.runtimes.build import Variant as RuntimeVariant
    from visearch.vectors.runtimes.families import family_for

    base = load_encoder(spec, device="cpu", batch_size=batch_size)
    default = _TORCH_DEFAULT.setdefault("threads", torch.get_num_threads())
    out = [Variant("torch/fp32", TorchThreads(base, default), default)]
    if default != 1:
        out.append(Variant("torch/fp32 x1", TorchThreads(base, 1), 1))
    exported = RuntimeVariant.of(family_for(spec), runtime)
    for engine, precision in combos:
        encoder = exported.open(engine, precision, batch_size=batch_size, gate=False)
        out.append(Variant(f"{engine}/{precision}", encoder, runtime.thread_count))
    if more_threads and more_threads != runtime.thread_count:  # what the thread policy saves
        wider = RuntimeVariant.of(family_for(spec), replace(runtime, threads=more_threads))
        for engine, precision in combos:
            if precision == "int8":
                encoder = wider.open(engine, precision, batch_size=batch_size, gate=False)
                label = f"{engine}/{precision} x{more_threads}"
                out.append(Variant(label, encoder, more_threads))
    return out


def throughput(variants: list[Variant], images: list[Any], passes: int) -> None:
    """`passes` passes over `images` per variant, interleaved; the encoder batches them."""
    for variant in variants:
        variant.encoder.embed_images(images[:4])  # warm-up
    for n in range(passes):
        for variant in variants[:: 1 if n % 2 == 0 else -1]:
            started = time.perf_counter()
            variant.encoder.embed_images(images)
            variant.passes.append(time.perf_counter() - started)


def latency(variants: list[Variant], images: list[Any], queries: int) -> None:
    """One image per call, the variants taking turns, starting with a different one each time."""
    for q in range(queries):
        image = images[q % len(images)]
        for i in range(len(variants)):
            variant = variants[(q + i) % len(variants)]
            started = time.perf_counter()
            variant.encoder.embed_images([image])
            variant.latencies.append(time.perf_counter() - started)


def fidelity(variants: list[Variant], images: list[Any]) -> None:
    """Cosine of each variant's vectors to torch's, and how many of each photo's 10 nearest
    neighbours (among `images`) stay the same: what random weights can say about quality."""
    reference = variants[0].encoder.embed_images(images)
    near = _neighbours(reference)
    for variant in variants:
        vectors = variant.encoder.embed_images(images)
        cosine = np.sum(vectors * reference, axis=1)
        overlap = np.mean(
            [len(set(a) & set(b)) / len(a) for a, b in zip(near, _neighbours(vectors), strict=True)]
        )
        variant.fidelity = {
            "mean_cosine": float(cosine.mean()),
            "min_cosine": float(cosine.min()),
            "neighbours": float(overlap),
        }


def _neighbours(vectors: np.ndarray, k: int = 10) -> np.ndarray:
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    return np.argsort(-scores, axis=1)[:, :k]
