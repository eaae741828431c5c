"""CLIP (sentence-transformers) outside torch: both towers exported, the same processor.

The exported image tower takes the processor's `pixel_values`, the text tower its `input_ids`
and `attention_mask`; both give the projected embedding that sentence-transformers returns
(before its L2 normalisation, which the encoder applies). The processor is saved beside the
export, so a cached model loads without sentence-transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visearch.vectors.encoders import EncoderError
from visearch.vectors.runtimes import BF16, FP32, INT8, ONNX, OPENVINO
from visearch.vectors.runtimes.export import Feeds, check_export, export_onnx
from visearch.vectors.runtimes.families import DIGESTS, DYNAMIC, check_images
from visearch.vectors.runtimes.sessions import Session
from visearch.vectors.runtimes.store import ModelStore, files_digest, slugify

PROCESSOR_DIR = "processor"
CHECK_TEXTS = (
    "red ankle boots",
    "a",
    " ".join(["a long description of a striped cotton shirt with buttons"] * 12),  # > 77 tokens
)


class ClipFamily:
    """CLIP image and text towers; int8 is dynamic (MatMul weights), which OpenVINO runs slower
    than fp32, so only ONNX Runtime offers it."""

    towers = ("image", "text")
    int8_recipe = DYNAMIC
    engines = {FP32: (ONNX, OPENVINO), BF16: (OPENVINO,), INT8: (ONNX,)}

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.model = "clip:" + model_id
        self._processor: Any = None

    def store(self, root: Path) -> ModelStore:
        folder = model_dir(self.model_id)
        files = [
            (str(path.relative_to(folder)), path)
            for path in sorted(folder.rglob("*"))
            if path.is_file() and not path.relative_to(folder).as_posix().startswith(".")
        ]
        slug = slugify("clip-" + Path(self.model_id.rstrip("/")).name)
        return ModelStore(root, slug, files_digest(files, root / DIGESTS))

    def export(self, store: ModelStore) -> dict[str, Any]:
        from visearch.vectors.encoders.clip import ClipEncoder

        reference = ClipEncoder(self.model_id, device="cpu")
        model, processor = reference.torch_parts()
        processor.save_pretrained(str(store.path(PROCESSOR_DIR)))
        self.open(store)
        images, texts = check_images(), list(CHECK_TEXTS)
        _export_towers(store, model, self.feeds("image", images[:2]), self.feeds("text", texts))
        check = {}
        for tower, items, embed in (
            ("image", images, reference.embed_images),
            ("text", texts, reference.embed_texts),
        ):
            session = Session(store.path(f"fp32-{tower}.onnx"), ONNX, FP32, 1)
            exported = session.run(self.feeds(tower, items))
            check[tower] = check_export(f"{self.model} ({tower})", embed(items), exported)
        return {"dim": reference.dim, "check": check}

    def open(self, store: ModelStore) -> None:
        from transformers import AutoProcessor

        if self._processor is None:
            self._processor = AutoProcessor.from_pretrained(str(store.path(PROCESSOR_DIR)))

    def feeds(self, tower: str, items: Sequence[Any]) -> Feeds:
        if tower == "image":
            out = self._processor(images=list(items), return_tensors="np")
            return {"pixel_values": np.ascontiguousarray(out["pixel_values"], dtype=np.float32)}
        out = self._processor(text=list(items), padding=True, truncation=True, return_tensors="np")
        return {
            name: np.asarray(out[name], dtype=np.int64) for name in ("input_ids", "attention_mask")
        }


def model_dir(model_id: str) -> Path:
    """A local model folder, or the hub snapshot sentence-transformers would load."""
    local = Path(model_id).expanduser()
    if local.is_dir():
        return local
    from huggingface_hub import snapshot_download

    repo = model_id if "/" in model_id else f"sentence-transformers/{model_id}"
    try:
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached yet: fetch it (fails clearly offline)
        try:
            return Path(snapshot_download(repo))
        except Exception as error:  # noqa: BLE001
            raise EncoderError(f"cannot load CLIP model {model_id!r}: {error}") from error


def _export_towers(store: ModelStore, model: Any, image: Feeds, text: Feeds) -> None:
    import torch

    batch = torch.export.Dim("batch")
    longest = int(model.config.text_config.max_position_embeddings)
    seq = torch.export.Dim("seq", max=longest)
    towers = {
        "image": (_tower_module(model, "image"), image, {"pixel_values": {0: batch}}),
        "text": (
            _tower_module(model, "text"),
            text,
            {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
        ),
    }
    for name, (module, feeds, dynamic) in towers.items():
        example = [torch.from_numpy(feeds[key]) for key in dynamic]
        target = store.path(f"fp32-{name}.onnx")
        store.save_atomically(
            target, lambda tmp, m=module, e=example, d=dynamic: export_onnx(m, e, tmp, list(d), d)
        )


def _tower_module(model: Any, tower: str) -> Any:
    """One tower of `model` as a torch module; defined here so torch is imported only to
    export."""
    import torch

    def features(output: Any) -> Any:
        # transformers 5 returns a model output whose pooler_output is the projected embedding.
        return output if isinstance(output, torch.Tensor) else output.pooler_output

    class Image(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixel_values: Any) -> Any:
            return features(self.model.get_image_features(pixel_values=pixel_values))

    class Text(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return features(
                self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
            )

    return Image() if tower == "image" else Text()
