"""`visearch tune`: learn an adapter from labelled product photos in minutes on a CPU.

Frozen encoder features are computed once and cached; a linear projection is trained on
them with a supervised contrastive loss (photos of the same SKU pull together, others push
apart). A held-out share of the photos picks the epoch, so no evaluation query is ever used.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from visearch.vectors.adapter import Adapter
from visearch.vectors.encoders import Encoder
from visearch.vectors.images import load_image


@dataclass(frozen=True)
class TuneConfig:
    output_dim: int = 256
    epochs: int = 300
    learning_rate: float = 0.01
    temperature: float = 0.05
    weight_decay: float = 1e-4
    holdout: float = 0.15  # share of photos (stratified by sku) kept out to pick the epoch
    seed: int = 0


@dataclass(frozen=True)
class LabelledPhotos:
    images: list[str]  # resolved paths or URLs
    labels: list[str]  # the sku of each photo


def read_labelled_photos(path: Path) -> LabelledPhotos:
    """A CSV with `image` (relative to the file) and `sku` columns."""
    images, labels = [], []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            image, sku = (row.get("image") or "").strip(), (row.get("sku") or "").strip()
            if image and sku:
                resolved = image if "://" in image else str(path.parent / image)
                images.append(resolved)
                labels.append(sku)
    if len(set(labels)) < 2:
        raise ValueError(f"{path}: need labelled photos of at least two SKUs (image, sku)")
    return LabelledPhotos(images, labels)


def cached_features(
    encoder: Encoder, images: Sequence[str], cache_dir: Path, *, workers: int = 4
) -> np.ndarray:
    """Frozen features of `images`, computed once per (encoder, photo list)."""
    key = hashlib.sha256("\n".join([encoder.name, *images]).encode()).hexdigest()[:16]
    cache = cache_dir / f"features-{key}.npy"
    if cache.exists():
        return np.load(cache)
    rows = []
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(images), 64):
            batch = list(pool.map(load_image, images[start : start + 64]))
            rows.append(encoder.embed_images(batch))
    features = np.concatenate(rows).astype(np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cache, features)
    return features


def train_adapter(
    features: np.ndarray, labels: Sequence[str], config: TuneConfig, base_encoder: str
) -> tuple[Adapter, dict[str, float]]:
    """Fit the projection; returns the adapter and its training metrics."""
    import torch

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    held = _stratified_holdout(y, config.holdout, rng)
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    target = torch.from_numpy(y)
    train_idx = torch.from_numpy(np.flatnonzero(~held))
    held_idx = torch.from_numpy(np.flatnonzero(held))

    # Start from the top principal directions, so epoch 0 is already a sensible projection.
    centred = x[train_idx] - x[train_idx].mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    weight = torch.nn.Parameter(v[: config.output_dim].T.clone().contiguous())
    optimiser = torch.optim.AdamW(
        [weight], lr=config.learning_rate, weight_decay=config.weight_decay
    )

    def embed(index: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(x[index] @ weight, dim=1)

    def holdout_score() -> float:
        with torch.no_grad():
            return _holdout_recall_at_1(
                embed(held_idx), target[held_idx], embed(train_idx), target[train_idx]
            )

    started = time.perf_counter()
    best = _fit(config, weight, optimiser, lambda: embed(train_idx), target[train_idx],
                holdout_score)  # fmt: skip
    with torch.no_grad():
        identity_score = _holdout_recall_at_1(
            torch.nn.functional.normalize(x[held_idx], dim=1),
            target[held_idx],
            torch.nn.functional.normalize(x[train_idx], dim=1),
            target[train_idx],
        )
    metrics = {
        "holdout_recall_at_1_base": round(identity_score, 4),
        "holdout_recall_at_1_tuned": round(best[0], 4),
        "best_epoch": best[1],
        "train_seconds": round(time.perf_counter() - started, 2),
        "train_photos": int(len(train_idx)),
        "holdout_photos": int(len(held_idx)),
        "skus": len(classes),
    }
    meta = {
        "version": 1,
        "base_encoder": base_encoder,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": asdict(config),
        "metrics": metrics,
    }
    return Adapter(best[2].numpy().astype(np.float32), meta), metrics


def _fit(
    config: TuneConfig,
    weight: Any,
    optimiser: Any,
    embed_train: Callable[[], Any],
    train_labels: Any,
    holdout_score: Callable[[], float],
) -> tuple[float, int, Any]:
    """Train for `config.epochs`; the best (hold-out score, epoch, weight) seen every 10 epochs."""
    best = (-1.0, 0, weight.detach().clone())
    for epoch in range(1, config.epochs + 1):
        optimiser.zero_grad()
        loss = _supcon(embed_train(), train_labels, config.temperature)
        loss.backward()
        optimiser.step()
        if epoch % 10 == 0 or epoch == config.epochs:
            score = holdout_score()
            if score > best[0]:
                best = (score, epoch, weight.detach().clone())
    return best


def _supcon(z: object, y: object, temperature: float) -> object:
    """Supervised contrastive loss (Khosla et al. 2020) over one full batch."""
    import torch

    logits = z @ z.T / temperature
    eye = torch.eye(len(y), dtype=torch.bool)
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (y[:, None] == y[None, :]) & ~eye
    counts = positives.sum(1)
    has = counts > 0
    mean_pos = (log_prob.masked_fill(~positives, 0).sum(1)[has]) / counts[has]
    return -mean_pos.mean()


def _holdout_recall_at_1(
    queries: object, q_labels: object, gallery: object, g_labels: object
) -> float:
    """Share of held-out photos whose nearest training photo has the same sku."""
    nearest = (queries @ gallery.T).argmax(dim=1)
    return float((g_labels[nearest] == q_labels).float().mean())


def _stratified_holdout(y: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    held = np.zeros(len(y), dtype=bool)
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        n = int(round(len(members) * share))
        if len(members) > 1 and n:
            held[rng.choice(members, size=min(n, len(members) - 1), replace=False)] = True
    return held
