"""The one way to get an encoder: `load_encoder(spec, adapter=..., runtime=...)`, and the names
indices record.

A spec is `clip:<model id or path>` or `efficientnet-lite0`, optionally with a precision:
`@int8`, `@bf16` (vectors differ from fp32, so the name keeps the mark) or `@auto` (the fastest
precision that passes the quality gate on this CPU, resolved to one of the others). With an
adapter, the encoder's name (what an index records and every vector key hashes) is
`<spec>+<adapter id>`; the same form is accepted back as a spec, so the name an index records
can be loaded as it is, given the adapter's folder. The runtime (`torch`, `onnx`, `openvino`,
`auto`) says how the spec runs and never changes its name: an fp32 export reproduces torch's
vectors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visearch.vectors.adapter import AdaptedEncoder, Adapter
from visearch.vectors.encoders import (
    CLIP_PREFIX,
    EFFICIENTNET_LITE0,
    VALID_SPECS,
    Encoder,
    EncoderError,
)
from visearch.vectors.runtimes import (
    AUTO,
    FP32,
    TORCH,
    Runtime,
    split_precision,
    with_precision,
)

if TYPE_CHECKING:
    from PIL import Image

ADAPTER_MARK = "+adapter-"


class AdapterNeededError(EncoderError):
    """The spec names an adapted encoder, but no adapter (or another one) was given."""

    def __init__(self, spec: str, adapter_id: str, given: str | None) -> None:
        self.spec, self.adapter_id, self.given = spec, adapter_id, given
        got = f"; the adapter given is {given}" if given else ""
        super().__init__(f"encoder {spec!r} needs the folder of adapter {adapter_id}{got}")


def split_name(name: str) -> tuple[str, str | None]:
    """`efficientnet-lite0+adapter-9f3a` -> (`efficientnet-lite0`, `adapter-9f3a`)."""
    base, mark, rest = name.partition(ADAPTER_MARK)
    return (base, f"adapter-{rest}") if mark else (name, None)


def image_fitter(name: str) -> Callable[[Image.Image], Image.Image] | None:
    """What the encoder named `name` does to each photo before its pixels are copied in
    (centre crop and resize), for a pipeline to do ahead of the model in other threads; None
    where the model's own processor must do it (CLIP)."""
    model, _ = split_precision(split_name(name)[0])
    if model != EFFICIENTNET_LITE0:
        return None
    from visearch.vectors.encoders.efficientnet import fit_image

    return fit_image


def encoder_name(
    spec: str, adapter: Path | Adapter | None = None, runtime: str | Runtime | None = None
) -> str:
    """The name an index records for `spec` with `adapter`, without loading the model
    (`@auto` is resolved: from the cached choice, else by choosing now)."""
    base, wanted = split_name(resolve_spec(spec, runtime))
    loaded = _adapter(adapter, base, wanted)
    return base if loaded is None else f"{base}+{loaded.id}"


def resolve_spec(spec: str, runtime: str | Runtime | None = None) -> str:
    """`spec` with `@auto` replaced by the precision `runtime` picks on this CPU, and `@fp32`
    dropped (fp32 is the unmarked name)."""
    base, wanted = split_name(spec.strip())
    model, precision = split_precision(base)
    if precision == AUTO:
        precision = _auto_precision(model, Runtime.parse(runtime))
    resolved = with_precision(model, precision)
    return resolved if wanted is None else resolved + ADAPTER_MARK + wanted.removeprefix("adapter-")


def load_encoder(
    spec: str,
    *,
    adapter: Path | Adapter | None = None,
    device: str | None = None,
    batch_size: int = 32,
    runtime: str | Runtime | None = None,
) -> Encoder:
    """Build the encoder `spec` names, run by `runtime` (default torch; a string such as
    `openvino:1`, or a `Runtime` with calibration photos and a labelled set for the quality
    gate), wrapped in `adapter` (a folder or an Adapter) if any."""
    if batch_size < 1:
        raise EncoderError(f"batch_size must be >= 1, got {batch_size}")
    base, wanted = split_name(spec.strip())
    loaded = _adapter(adapter, base, wanted)
    encoder = _base_encoder(base, device, batch_size, Runtime.parse(runtime))
    return encoder if loaded is None else AdaptedEncoder(encoder, loaded)


def _adapter(adapter: Path | Adapter | None, base: str, wanted: str | None) -> Adapter | None:
    loaded = Adapter.load(adapter) if isinstance(adapter, str | Path) else adapter
    if wanted is not None and (loaded is None or loaded.id != wanted):
        raise AdapterNeededError(base + ADAPTER_MARK + wanted.removeprefix("adapter-"), wanted,
                                 loaded.id if loaded else None)  # fmt: skip
    return loaded


def _base_encoder(spec: str, device: str | None, batch_size: int, runtime: Runtime) -> Encoder:
    model, precision = split_precision(spec)
    _check_model(model)
    if runtime.engine == TORCH:
        if precision not in (FP32, AUTO):
            raise EncoderError(
                f"torch runs fp32 only; {spec!r} needs --runtime onnx, openvino or auto"
            )
        return _torch_encoder(model, resolve_device(device), batch_size, runtime.threads)
    if device not in (None, "cpu"):
        raise EncoderError(f"runtime {runtime.engine} runs on the CPU; for {device} use torch")
    from visearch.vectors.runtimes.auto import choose

    variant = _exported(model, runtime)
    engine, precision = choose(variant, precision)
    return variant.open(engine, precision, batch_size=batch_size)


def _auto_precision(model: str, runtime: Runtime) -> str:
    _check_model(model)
    if runtime.engine == TORCH:
        return FP32
    from visearch.vectors.runtimes.auto import choose

    return choose(_exported(model, runtime), AUTO)[1]


def _exported(model: str, runtime: Runtime) -> Any:
    """The model's exports (a `runtimes.build.Variant`); the engines load only now."""
    from visearch.vectors.runtimes.build import Variant
    from visearch.vectors.runtimes.families import family_for

    return Variant.of(family_for(model), runtime)


def _check_model(model: str) -> None:
    if model.startswith(CLIP_PREFIX) and model[len(CLIP_PREFIX) :].strip():
        return
    if model != EFFICIENTNET_LITE0:
        raise EncoderError(f"unknown encoder spec {model!r}; valid: {VALID_SPECS}")


def _torch_encoder(model: str, device: str, batch_size: int, threads: int | None) -> Encoder:
    if threads is not None:  # torch's pool is per process: set only when asked for
        import torch

        torch.set_num_threads(threads)
    if model.startswith(CLIP_PREFIX):
        from visearch.vectors.encoders.clip import ClipEncoder

        return ClipEncoder(model[len(CLIP_PREFIX) :].strip(), device=device, batch_size=batch_size)
    from visearch.vectors.encoders.efficientnet import EfficientNetLite0Encoder

    return EfficientNetLite0Encoder(device=device, batch_size=batch_size)


def resolve_device(device: str | None) -> str:
    """Pick CUDA when present so callers need not know the machine."""
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def choose_spec(recorded: str | None, requested: str | None, default: str | None) -> str | None:
    """The encoder to use with an index: the one asked for, else the one the index records
    (so queries and reruns match it), else `default` for a new index."""
    return requested or recorded or default
