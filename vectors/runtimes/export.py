"""torch -> ONNX, and int8 versions of an export (static QDQ calibrated on photos, or dynamic).

The int8 recipe depends on the architecture (measured, see the README's runtimes section):
a CNN such as EfficientNet-Lite0 takes static QDQ quantization, per channel, with activation
ranges calibrated (min/max) on a few hundred of the catalog's own photos; a ViT such as
CLIP's takes dynamic quantization of its MatMuls only (static int8 ruins a ViT's vectors:
cosine 0.86 to fp32).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visearch.vectors.encoders import EncoderError

OPSET = 18
Feeds = dict[str, np.ndarray]


def export_onnx(
    module: Any,
    example: Sequence[Any],
    path: Path,
    inputs: Sequence[str],
    dynamic: Mapping[str, Mapping[int, Any]],
) -> Path:
    """Export `module(*example)` with the dynamo exporter into one self-contained file; the
    exporter's progress lines and warnings are kept off stdout (`--json` stays clean)."""
    import torch

    quiet = io.StringIO()
    with (
        contextlib.redirect_stdout(quiet),
        warnings.catch_warnings(),
        _quiet_logger("torch.onnx"),
        _quiet_logger("onnxscript"),
        torch.inference_mode(False),
        torch.no_grad(),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            tuple(example),
            str(path),
            input_names=list(inputs),
            output_names=["embeddings"],
            dynamic_shapes={name: dict(axes) for name, axes in dynamic.items()},
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
        )
    return path


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class _Calibration:
    """ONNX Runtime's calibration reader over batches of feeds, made one batch at a time."""

    def __init__(self, batches: Iterator[Feeds]) -> None:
        self._batches = batches

    def get_next(self) -> Feeds | None:
        return next(self._batches, None)

    def rewind(self) -> None:  # pragma: no cover - min/max calibration reads once
        raise NotImplementedError


def quantize_static(source: Path, target: Path, batches: Iterator[Feeds]) -> Path:
    """int8 QDQ: weights per channel (int8), activations per tensor (uint8), ranges from
    `batches` (min/max: as good as percentile on this catalog, a quarter of the time and
    memory)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
    )
    from onnxruntime.quantization import quantize_static as ort_quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(_Calibration, CalibrationDataReader):
        pass

    prepared = target.with_name(f".{target.stem}-prepared.onnx")
    try:
        with _quiet_logger("root"):
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            ort_quantize_static(
                str(prepared),
                str(target),
                Reader(batches),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
    finally:
        prepared.unlink(missing_ok=True)
    return target


def quantize_dynamic(source: Path, target: Path) -> Path:
    """int8 weights for MatMul only, activations quantized on the fly: the ViT recipe."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    with _quiet_logger("root"):
        ort_quantize_dynamic(
            str(source), str(target), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8
        )
    return target


def check_export(
    label: str, reference: np.ndarray, exported: np.ndarray, minimum: float = 0.9999
) -> dict[str, float]:
    """An fp32 export must reproduce torch's unit vectors (cosine > `minimum` for every
    input), or it is not the same encoder and must not share its name."""
    cosine = np.sum(_unit(reference) * _unit(exported), axis=1)
    figures = {
        "min_cosine": float(cosine.min()),
        "max_abs": float(np.abs(_unit(reference) - _unit(exported)).max()),
    }
    if figures["min_cosine"] <= minimum:
        raise EncoderError(
            f"the ONNX export of {label} does not reproduce torch's vectors "
            f"(min cosine {figures['min_cosine']:.6f} <= {minimum}); it is not used"
        )
    return figures


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def batched(
    items: Sequence[Any], size: int, make: Callable[[Sequence[Any]], Feeds]
) -> Iterator[Feeds]:
    for start in range(0, len(items), size):
        yield make(items[start : start + size])
