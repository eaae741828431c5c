"""The encoder runtime options the benchmarks share: `--runtime`, `--calibration` and
`--quality-set`, as in the CLI (see README, "Runtimes and precision")."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime",
        default="torch",
        help="torch, onnx, openvino or auto, optionally :THREADS (default torch)",
    )
    parser.add_argument("--calibration", type=Path, default=None, help="int8 calibration photos")
    parser.add_argument("--quality-set", type=Path, default=None, help="labelled set for the gate")


def runtime_of(args: argparse.Namespace) -> Any:
    from visearch.vectors import Runtime

    return Runtime.parse(args.runtime, calibration=args.calibration, quality=args.quality_set)
