"""What each encoder family needs to run outside torch: its cache key, its ONNX export (checked
against torch), its int8 recipe, and the inputs its towers take.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from visearch.vectors.encoders import CLIP_PREFIX, EFFICIENTNET_LITE0, VALID_SPECS, EncoderError
from visearch.vectors.runtimes import BF16, FP32, INT8, ONNX, OPENVINO
from visearch.vectors.runtimes.export import Feeds, check_export, export_onnx
from visearch.vectors.runtimes.sessions import Session
from visearch.vectors.runtimes.store import ModelStore, file_digest

if TYPE_CHECKING:
    from PIL import Image

STATIC, DYNAMIC = "static", "dynamic"
DIGESTS = "digests.json"


class Family(Protocol):
    model: str
    towers: tuple[str, ...]
    int8_recipe: str
    engines: dict[str, tuple[str, ...]]
    """precision -> the engines that run it for this family."""

    def store(self, root: Path) -> ModelStore: ...

    def export(self, store: ModelStore) -> dict[str, Any]:
        """Write `fp32-<tower>.onnx` for every tower; return the manifest (dim, check)."""
        ...

    def open(self, store: ModelStore) -> None:
        """Get ready to make inputs (a tokenizer, an image processor) from the store."""
        ...

    def feeds(self, tower: str, items: Sequence[Any]) -> Feeds: ...


def family_for(model: str) -> Family:
    if model == EFFICIENTNET_LITE0:
        return EfficientNetFamily()
    if model.startswith(CLIP_PREFIX) and model[len(CLIP_PREFIX) :].strip():
        from visearch.vectors.runtimes.clip_family import ClipFamily

        return ClipFamily(model[len(CLIP_PREFIX) :].strip())
    raise EncoderError(f"unknown encoder spec {model!r}; valid: {VALID_SPECS}")


def check_images(n: int = 4, seed: int = 0) -> list[Image.Image]:
    """Deterministic photos of varied sizes (resizing and cropping exercised) for export checks."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    sizes = [(168, 224), (224, 168), (300, 300), (97, 64), (500, 120)]
    out = []
    for i in range(n):
        w, h = sizes[i % len(sizes)]
        ramp = np.linspace(0, 255, w * h * 3).reshape(h, w, 3)
        noise = rng.integers(0, 96, (h, w, 3))
        out.append(Image.fromarray(np.clip(ramp * 0.6 + noise, 0, 255).astype(np.uint8), "RGB"))
    return out


class EfficientNetFamily:
    """EfficientNet-Lite0: one image tower; int8 is static QDQ calibrated on photos."""

    model = EFFICIENTNET_LITE0
    towers = ("image",)
    int8_recipe = STATIC
    engines = {FP32: (ONNX, OPENVINO), BF16: (OPENVINO,), INT8: (ONNX, OPENVINO)}

    def store(self, root: Path) -> ModelStore:
        from visearch.vectors.encoders.efficientnet import weights_file

        return ModelStore(root, self.model, file_digest(weights_file(), root / DIGESTS))

    def export(self, store: ModelStore) -> dict[str, Any]:
        import torch

        from visearch.vectors.encoders.efficientnet import (
            EfficientNetLite0Encoder,
            build_model,
            preprocess,
        )

        images = check_images()
        target = store.path("fp32-image.onnx")
        batch = torch.export.Dim("batch")
        store.save_atomically(
            target,
            lambda tmp: export_onnx(
                _pooled_features(build_model()),
                (torch.from_numpy(preprocess(images[:2])),),
                tmp,
                ["pixels"],
                {"pixels": {0: batch}},
            ),
        )
        reference = EfficientNetLite0Encoder(device="cpu").embed_images(images)
        exported = Session(target, ONNX, FP32, 1).run(self.feeds("image", images))
        return {
            "dim": int(exported.shape[1]),
            "check": {"image": check_export(self.model, reference, exported)},
        }

    def open(self, store: ModelStore) -> None:
        pass

    def feeds(self, tower: str, items: Sequence[Any]) -> Feeds:
        from visearch.vectors.encoders.efficientnet import preprocess

        return {"pixels": preprocess(items)}


def _pooled_features(model: Any) -> Any:
    """`model` as a torch module from NHWC pixels (what `preprocess` makes) to its
    global-average-pooled features; defined here so torch is imported only to export."""
    import torch

    class Features(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixels: Any) -> Any:
            return self.model.extract_features(pixels.permute(0, 3, 1, 2)).mean(dim=(2, 3))

    return Features()
