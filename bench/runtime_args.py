"""The encoder runtime options the benchmarks share: `--runtime`, `--calibration` and
`--quality-set`, as in the CLI (see README, "Runtimes and precision"), and `--runtimes`, the
variants a bench measures side by side in one run (torch against the fast path)."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RuntimeSide:
    """One side of a side-by-side run: the encoder spec (with its precision) and the runtime."""

    label: str
    """As given: `torch`, `auto@auto`, `openvino:1@int8`."""
    encoder: str
    runtime: Any
    """A `visearch.vectors.Runtime`."""

    @property
    def slug(self) -> str:
        """The label as an index-name suffix: `auto-auto`, `openvino-1-int8`."""
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime",
        default="torch",
        help="torch, onnx, openvino or auto, optionally :THREADS (default torch)",
    )
    parser.add_argument(
        "--runtimes",
        default=None,
        help="Comma-separated RUNTIME[@PRECISION] measured side by side in one run, e.g. "
        "torch,auto@auto (torch fp32 against the fastest precision that passes the gate); "
        "default: --runtime alone at --encoder's precision",
    )
    parser.add_argument("--calibration", type=Path, default=None, help="int8 calibration photos")
    parser.add_argument("--quality-set", type=Path, default=None, help="labelled set for the gate")


def runtime_of(args: argparse.Namespace, text: str | None = None) -> Any:
    """The `Runtime` of `text` (default `--runtime`) with the bench's calibration and gate data."""
    from visearch.vectors import Runtime

    return Runtime.parse(
        text or args.runtime, calibration=args.calibration, quality=args.quality_set
    )


def runtime_sides(args: argparse.Namespace) -> list[RuntimeSide]:
    """`--runtimes` as variants of `--encoder` (a precision after `@` replaces the encoder's);
    without it, `--runtime` alone."""
    from visearch.vectors.runtimes import split_precision, with_precision

    model, precision = split_precision(args.encoder)
    out = []
    for label in (args.runtimes or args.runtime).split(","):
        runtime, _, wanted = label.strip().partition("@")
        encoder = with_precision(model, wanted or precision)
        out.append(RuntimeSide(label.strip(), encoder, runtime_of(args, runtime)))
    return out


def alias_for(alias: str, encoder: str) -> str:
    """The bench alias that holds `encoder`'s vectors: `alias` at fp32 (torch and every fp32
    export share it), `alias-int8` / `alias-bf16` when the precision changes the vectors."""
    from visearch.vectors.runtimes import FP32, split_precision

    precision = split_precision(encoder)[1]
    return alias if precision == FP32 else f"{alias}-{precision}"
