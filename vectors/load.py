"""The one way to get an encoder: `load_encoder(spec, adapter=...)`, and the names indices record.

A spec is `clip:<model id or path>` or `efficientnet-lite0`. With an adapter, the encoder's
name (what an index records and every vector key hashes) is `<spec>+<adapter id>`; the same
form is accepted back as a spec, so the name an index records can be loaded as it is, given
the adapter's folder.
"""

from __future__ import annotations

from pathlib import Path

from visearch.vectors.adapter import AdaptedEncoder, Adapter
from visearch.vectors.encoders import (
    CLIP_PREFIX,
    EFFICIENTNET_LITE0,
    VALID_SPECS,
    Encoder,
    EncoderError,
)

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


def encoder_name(spec: str, adapter: Path | Adapter | None = None) -> str:
    """The name an index records for `spec` with `adapter`, without loading the model."""
    base, wanted = split_name(spec.strip())
    loaded = _adapter(adapter, base, wanted)
    return base if loaded is None else f"{base}+{loaded.id}"


def load_encoder(
    spec: str,
    *,
    adapter: Path | Adapter | None = None,
    device: str | None = None,
    batch_size: int = 32,
) -> Encoder:
    """Build the encoder `spec` names, wrapped in `adapter` (a folder or an Adapter) if any."""
    if batch_size < 1:
        raise EncoderError(f"batch_size must be >= 1, got {batch_size}")
    base, wanted = split_name(spec.strip())
    loaded = _adapter(adapter, base, wanted)
    encoder = _base_encoder(base, resolve_device(device), batch_size)
    return encoder if loaded is None else AdaptedEncoder(encoder, loaded)


def _adapter(adapter: Path | Adapter | None, base: str, wanted: str | None) -> Adapter | None:
    loaded = Adapter.load(adapter) if isinstance(adapter, str | Path) else adapter
    if wanted is not None and (loaded is None or loaded.id != wanted):
        raise AdapterNeededError(base + ADAPTER_MARK + wanted.removeprefix("adapter-"), wanted,
                                 loaded.id if loaded else None)  # fmt: skip
    return loaded


def _base_encoder(spec: str, device: str, batch_size: int) -> Encoder:
    if spec.startswith(CLIP_PREFIX):
        model = spec[len(CLIP_PREFIX) :].strip()
        if not model:
            raise EncoderError(f"encoder spec {spec!r} names no CLIP model; valid: {VALID_SPECS}")
        from visearch.vectors.encoders.clip import ClipEncoder

        return ClipEncoder(model, device=device, batch_size=batch_size)
    if spec == EFFICIENTNET_LITE0:
        from visearch.vectors.encoders.efficientnet import EfficientNetLite0Encoder

        return EfficientNetLite0Encoder(device=device, batch_size=batch_size)
    raise EncoderError(f"unknown encoder spec {spec!r}; valid: {VALID_SPECS}")


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
