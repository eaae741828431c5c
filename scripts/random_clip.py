"""Build a CLIP model with random weights that sentence-transformers loads fully offline.

The hub is unreachable here and no package ships CLIP weights, so tests and benches exercise
the real CLIP code path on random weights. The default ``CLIPConfig()`` is exactly ViT-B/32
(512-d), so speed and memory figures match the real model; search quality does not.

    python -m visearch.scripts.random_clip OUT_DIR [--tiny]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO_ROOT.parent / "shared" / "models"
DEFAULT_TOKENIZER_DIR = SHARED_MODELS / "clip-tokenizer"
TINY_CONFIG_PATH = SHARED_MODELS / "tinyclip-8m-config.json"

# Same layout as the hub's sentence-transformers/clip-ViT-B-32, so loading takes the same path.
MODULE_DIR = "0_CLIPModel"
MODULES = [
    {"idx": 0, "name": "0", "path": MODULE_DIR, "type": "sentence_transformers.models.CLIPModel"}
]
TOKENIZER_FILES = (
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "preprocessor_config.json",
)
STAMP = "random_clip.json"
# Config keys that describe the saving run rather than the architecture.
_VOLATILE_KEYS = ("transformers_version", "architectures", "torch_dtype", "dtype")


def tiny_config() -> dict[str, Any]:
    """The TinyCLIP-ViT-8M-16-Text-3M shape: a real CLIP layout small enough for unit tests."""
    return json.loads(TINY_CONFIG_PATH.read_text())


def _clean_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Architecture-only copy of a saved config.json, so it compares and rebuilds reliably."""
    if not config:
        return {}
    return {
        k: _clean_config(v) if isinstance(v, dict) else v
        for k, v in config.items()
        if not k.startswith("_") and k not in _VOLATILE_KEYS
    }


def _stamp(config: dict[str, Any], seed: int) -> dict[str, Any]:
    return {"config": config, "seed": seed}


def save_random_clip(
    out_dir: Path,
    config: dict[str, Any] | None = None,
    tokenizer_dir: Path = DEFAULT_TOKENIZER_DIR,
    seed: int = 0,
) -> Path:
    """Write a random-weight CLIP sentence-transformers model to ``out_dir`` and return it.

    ``config`` None means ``CLIPConfig()`` (ViT-B/32); otherwise a CLIPConfig dict such as
    ``tiny_config()``. Skips the work if ``out_dir`` already holds the same config and seed;
    builds in a sibling temp dir and renames, so an interrupted build never looks complete.
    """
    out_dir = Path(out_dir)
    wanted = _stamp(_clean_config(config), seed)
    stamp_path = out_dir / STAMP
    if stamp_path.is_file() and json.loads(stamp_path.read_text()) == wanted:
        return out_dir

    import torch
    from transformers import CLIPConfig, CLIPModel

    clip_config = CLIPConfig(**wanted["config"])
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary model directory
    try:
        torch.manual_seed(seed)
        model = CLIPModel(clip_config).eval()
        module_dir = tmp / MODULE_DIR
        model.save_pretrained(module_dir)
        for name in TOKENIZER_FILES:
            shutil.copyfile(Path(tokenizer_dir) / name, module_dir / name)
        (tmp / "modules.json").write_text(json.dumps(MODULES, indent=2))
        (tmp / STAMP).write_text(json.dumps(wanted, indent=2, sort_keys=True))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="directory to write the model to")
    parser.add_argument(
        "--tiny", action="store_true", help="TinyCLIP-8M shape instead of ViT-B/32 (fast tests)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = save_random_clip(args.out_dir, tiny_config() if args.tiny else None, seed=args.seed)
    print(f"random CLIP ready: load_encoder('clip:{path}')")


if __name__ == "__main__":
    main()
