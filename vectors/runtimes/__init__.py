"""How an encoder runs: torch (the reference), or an export run by ONNX Runtime or OpenVINO,
at fp32, bf16 or int8. Light on purpose: parsing and naming only; the engines are imported
when a model is loaded.

A precision is part of the encoder (it changes the vectors), so it is part of the spec and of
the name an index records: `efficientnet-lite0@int8`, `clip:clip-ViT-B-32@bf16`. fp32 carries
no mark: an fp32 export reproduces torch's vectors, so it is the same encoder as torch. The
runtime is how the spec's precision is run (`torch`, `onnx`, `openvino` or `auto`, with an
optional thread count: `openvino:2`); it never changes a name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from visearch.vectors.encoders import EncoderError

FP32, BF16, INT8, AUTO = "fp32", "bf16", "int8", "auto"
PRECISIONS = (FP32, BF16, INT8)
TORCH, ONNX, OPENVINO = "torch", "onnx", "openvino"
ENGINES = (TORCH, ONNX, OPENVINO)
PRECISION_MARK = "@"

Photos = Path | Sequence[Path]


def split_precision(spec: str) -> tuple[str, str]:
    """`efficientnet-lite0@int8` -> (`efficientnet-lite0`, `int8`); no mark -> fp32.

    Only a known precision (or `auto`) after the last `@` is a mark, so a model path that
    happens to hold an `@` still names the model."""
    model, mark, precision = spec.rpartition(PRECISION_MARK)
    if mark and precision in (*PRECISIONS, AUTO):
        return model, precision
    return spec, FP32


def with_precision(model: str, precision: str) -> str:
    """The encoder's name at `precision`: fp32 exports reproduce torch, so they keep its name."""
    return model if precision == FP32 else f"{model}{PRECISION_MARK}{precision}"


def default_cache() -> Path:
    """`~/.cache/visearch/models`: outside the repository, shared by every checkout."""
    return Path.home() / ".cache" / "visearch" / "models"


def default_threads() -> int:
    """Half the cores this process may use, at least one.

    The encoder shares the machine with image decoding and bulk writes (ingest) or with
    OpenSearch and the HTTP server (serve); on 2 cores one encoder thread beats two, which
    spin against the rest (see the README's runtimes section)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        usable = os.cpu_count() or 1
    return max(1, usable // 2)


@dataclass(frozen=True)
class Runtime:
    """Which engine runs the encoder, with how many threads, and the data that int8/bf16
    need once per machine: calibration photos (a folder, a CSV with an `image` column, or a
    list of paths) and a labelled set for the quality gate (see `gate.LabelledSet`)."""

    engine: str = TORCH
    """torch, onnx, openvino, or auto (the fastest that passes the gate on this CPU)."""
    threads: int | None = None
    """None: `default_threads()` for onnx/openvino; torch keeps its own setting."""
    calibration: Photos | None = None
    quality: Path | None = None
    cache_dir: Path | None = None
    """Where exports, verdicts and choices are kept; None: `~/.cache/visearch/models`."""

    def __post_init__(self) -> None:
        if self.engine not in (*ENGINES, AUTO):
            raise EncoderError(
                f"unknown runtime {self.engine!r}; valid: {', '.join((*ENGINES, AUTO))}, "
                "optionally with ':THREADS' (openvino:2)"
            )
        if self.threads is not None and self.threads < 1:
            raise EncoderError(f"runtime threads must be >= 1, got {self.threads}")

    @classmethod
    def parse(cls, text: str | Runtime | None, **data: object) -> Runtime:
        """`openvino`, `onnx:2`, `auto` (a Runtime is returned as it is, with `data` set)."""
        if isinstance(text, Runtime):
            return replace(text, **data) if data else text  # type: ignore[arg-type]
        engine, _, threads = (text or TORCH).strip().lower().partition(":")
        try:
            count = int(threads) if threads else None
        except ValueError:
            raise EncoderError(f"runtime {text!r}: threads must be a number") from None
        return cls(engine or TORCH, count, **data)  # type: ignore[arg-type]

    @property
    def cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else default_cache()

    @property
    def thread_count(self) -> int:
        return self.threads or default_threads()

    def __str__(self) -> str:
        return self.engine + (f":{self.threads}" if self.threads else "")


__all__ = [
    "AUTO",
    "BF16",
    "ENGINES",
    "FP32",
    "INT8",
    "ONNX",
    "OPENVINO",
    "PRECISIONS",
    "Runtime",
    "TORCH",
    "default_cache",
    "default_threads",
    "split_precision",
    "with_precision",
]
