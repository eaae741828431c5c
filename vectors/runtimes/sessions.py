"""One ONNX model run by ONNX Runtime or OpenVINO on the CPU, with a set number of threads.

Threads are set deliberately (intra-op only, no inter-op pool, no spin-waiting): on a shared
2-core machine a spinning pool fights the image decoders and OpenSearch for the cores.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from visearch.vectors.encoders import EncoderError
from visearch.vectors.runtimes import BF16, ONNX, OPENVINO


class Session:
    """`run(feeds)` -> the model's first output as float32. Safe to call from any thread."""

    def __init__(self, path: Path, engine: str, precision: str, threads: int) -> None:
        self.path, self.engine, self.precision, self.threads = path, engine, precision, threads
        self._lock = threading.Lock()
        if engine == ONNX:
            self._run = _onnxruntime(path, threads)
        elif engine == OPENVINO:
            self._run = _openvino(path, threads, precision == BF16)
        else:
            raise EncoderError(f"no exported runtime {engine!r}")

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        with self._lock:  # an OpenVINO infer request is not reentrant; ORT's lock is free
            out = self._run(dict(feeds))
        return np.asarray(out, dtype=np.float32)


def _onnxruntime(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda feeds: session.run(None, feeds)[0]


def _openvino(path: Path, threads: int, bf16: bool) -> Any:
    import openvino as ov

    core = ov.Core()
    if bf16 and not cpu_has_bf16(core):
        raise EncoderError("this CPU has no bf16 support (OpenVINO reports no BF16 capability)")
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "ENABLE_CPU_PINNING": False,  # pinned threads wait for cores that others hold
    }
    compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    request = compiled.create_infer_request()
    names = [port.get_any_name() for port in compiled.inputs]

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        result = request.infer({name: feeds[name] for name in names})
        return result[compiled.outputs[0]].copy()

    return run


def cpu_has_bf16(core: Any = None) -> bool:
    """Whether OpenVINO can run bf16 natively here (AVX-512 BF16 or AMX)."""
    try:
        import openvino as ov

        core = core or ov.Core()
        return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - no OpenVINO or no CPU plugin: no bf16
        return False
