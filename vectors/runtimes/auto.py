"""`auto`: the fastest engine (and, for `@auto`, precision) that passes the gate on this CPU.

Every candidate is opened (a precision that changes vectors only with a passing verdict: a
refused or unjudged one is skipped, with its reason kept), timed side by side (interleaved
passes, best of each) and the fastest wins. The choice is cached per CPU, thread count and
request, so every process on the machine resolves the same spec to the same encoder; it is
made again only when a candidate that was skipped for want of a verdict may now have one.
"""

from __future__ import annotations

import time
from typing import Any

from visearch.vectors.encoders import EncoderError
from visearch.vectors.runtimes import AUTO, FP32, PRECISIONS
from visearch.vectors.runtimes.build import VERDICTS, Variant
from visearch.vectors.runtimes.families import check_images
from visearch.vectors.runtimes.sessions import cpu_has_bf16
from visearch.vectors.runtimes.store import cpu_id

CHOICES = "choices.json"
TIMING_BATCH = 16
TIMING_PASSES = 5


def choose(variant: Variant, precision: str) -> tuple[str, str]:
    """(engine, precision) for the runtime's engine (or `auto`) and `precision` (or `auto`)."""
    engine = variant.runtime.engine
    if engine != AUTO and precision != AUTO:
        return engine, precision
    key = f"{cpu_id()}/{variant.runtime.thread_count}/{engine}/{precision}"
    cached = variant.store.read(CHOICES).get(key)
    if cached and not _stale(variant, cached):
        return cached["engine"], cached["precision"]
    choice = _measure_choice(variant, _candidates(variant, engine, precision))
    variant.store.update(CHOICES, key, choice)
    return choice["engine"], choice["precision"]


def _candidates(variant: Variant, engine: str, precision: str) -> list[tuple[str, str]]:
    precisions = PRECISIONS if precision == AUTO else (precision,)
    found = [
        (e, p)
        for p in precisions
        for e in variant.family.engines.get(p, ())
        if engine in (AUTO, e) and (p != "bf16" or cpu_has_bf16())
    ]
    if not found:
        raise EncoderError(f"{variant.family.model}: no runtime runs {precision} on {engine}")
    return found


def _stale(variant: Variant, cached: dict[str, Any]) -> bool:
    """A skipped candidate may now be judged (a labelled set is given, or a verdict for it
    was cached since)."""
    waiting = [c for c in cached.get("skipped", []) if c.get("reason") == "unjudged"]
    if not waiting:
        return False
    if variant.quality is not None:
        return True
    verdicts = variant.store.read(VERDICTS)
    return any(
        key.startswith(f"{c['engine']}/{c['precision']}/") for c in waiting for key in verdicts
    )


def _measure_choice(variant: Variant, candidates: list[tuple[str, str]]) -> dict[str, Any]:
    opened, skipped = {}, []
    for engine, precision in candidates:
        try:
            opened[(engine, precision)] = variant.open(engine, precision, batch_size=TIMING_BATCH)
        except EncoderError as error:
            reason = "refused" if hasattr(error, "verdict") else "unjudged"
            if precision == FP32:
                raise
            skipped.append(
                {"engine": engine, "precision": precision, "reason": reason, "detail": str(error)}
            )
    speeds = measure(opened)
    engine, precision = max(speeds, key=lambda c: speeds[c])
    return {
        "engine": engine,
        "precision": precision,
        "img_per_s": {f"{e}/{p}": round(s, 1) for (e, p), s in speeds.items()},
        "skipped": skipped,
        "threads": variant.runtime.thread_count,
        "chosen_at": time.time(),
    }


def measure(encoders: dict[Any, Any], passes: int = TIMING_PASSES) -> dict[Any, float]:
    """Images/s of each encoder on the same synthetic batch, passes interleaved (the order
    reversed every other pass), best pass kept: a busy machine slows passes, not encoders."""
    images = check_images(TIMING_BATCH, seed=1)
    for encoder in encoders.values():
        encoder.embed_images(images[:2])  # warm-up: allocations, kernel selection
    best = dict.fromkeys(encoders, float("inf"))
    for n in range(passes):
        for label in list(encoders)[:: 1 if n % 2 == 0 else -1]:
            started = time.perf_counter()
            encoders[label].embed_images(images)
            best[label] = min(best[label], time.perf_counter() - started)
    return {label: len(images) / seconds for label, seconds in best.items()}
