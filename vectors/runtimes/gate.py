"""The quality gate: a precision that changes vectors (int8, bf16) is used only if, on a
labelled set, it keeps fp32's recall and stays close to fp32's vectors.

Rule (`THRESHOLDS`): Recall@1 and Recall@5 no more than 0.01 below fp32's (exact cosine search
of the queries among the gallery; a gain is no reason to refuse), and mean cosine of its
vectors to fp32's, over the queries and the gallery, at least 0.99. The figures are kept with
the verdict and are the message of a refusal.

A labelled set is a folder (or its `queries.csv`) in the grocery layout: `queries.csv` with
`image`, `relevant_skus` (separated by | ; , or spaces) and optionally `split` (rows of split
`val` are used when there are any), and `gallery.csv` with `sku` and `image`; images are
relative to the CSV. Calibration photos must not be among them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visearch.vectors.encoders import Encoder, EncoderError
from visearch.vectors.runtimes.store import file_digest, text_digest

KS = (1, 5, 10)
GATED_KS = (1, 5)
RECALL_TOLERANCE = 0.01
MIN_MEAN_COSINE = 0.99
SPLIT = "val"


@dataclass(frozen=True)
class LabelledSet:
    queries: tuple[tuple[Path, frozenset[str]], ...]
    gallery: tuple[tuple[str, Path], ...]
    id: str

    @classmethod
    def read(cls, path: Path) -> LabelledSet:
        path = Path(path)
        queries_file = path / "queries.csv" if path.is_dir() else path
        gallery_file = queries_file.parent / "gallery.csv"
        for needed in (queries_file, gallery_file):
            if not needed.is_file():
                raise EncoderError(f"quality set: {needed} not found (see vectors/runtimes/gate)")
        rows = _rows(queries_file)
        if any(row.get("split") == SPLIT for row in rows):
            rows = [row for row in rows if row.get("split") == SPLIT]
        queries = tuple((queries_file.parent / row["image"], _skus(row)) for row in rows)
        gallery = tuple(
            (row["sku"], gallery_file.parent / row["image"]) for row in _rows(gallery_file)
        )
        if not queries or not gallery:
            raise EncoderError(f"quality set {path}: no queries or no gallery")
        digest = text_digest(file_digest(queries_file), file_digest(gallery_file), SPLIT)
        return cls(queries, gallery, f"{queries_file.parent.name}-{digest[:12]}")

    @property
    def photos(self) -> set[Path]:
        return {p.resolve() for p, _ in self.queries} | {p.resolve() for _, p in self.gallery}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _skus(row: dict[str, str]) -> frozenset[str]:
    text = row.get("relevant_skus") or row.get("relevant") or ""
    return frozenset(part for part in re.split(r"[|;,\s]+", text.strip()) if part)


@dataclass(frozen=True)
class Verdict:
    label: str
    passed: bool
    recall: dict[int, float]
    reference: dict[int, float]
    mean_cosine: float
    min_cosine: float
    queries: int
    gallery: int
    quality_set: str
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        recall = {int(k): float(v) for k, v in data["recall"].items()}
        reference = {int(k): float(v) for k, v in data["reference"].items()}
        return cls(**{**data, "recall": recall, "reference": reference})

    def describe(self) -> str:
        figures = ", ".join(
            f"R@{k} {self.recall[k]:.3f} (fp32 {self.reference[k]:.3f})" for k in GATED_KS
        )
        outcome = "passed" if self.passed else "refused: " + "; ".join(self.reasons)
        return (
            f"{self.label}: {figures}, mean cosine to fp32 {self.mean_cosine:.4f} "
            f"(min {self.min_cosine:.4f}) on {self.queries} queries x {self.gallery} gallery "
            f"photos of {self.quality_set}: {outcome}"
        )


class GateRefusedError(EncoderError):
    """The precision changes vectors more than the gate allows; `verdict` has the figures."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        super().__init__(f"quality gate: {verdict.describe()}")


class GateRun:
    """One labelled set, decoded once, judged against one fp32 reference."""

    def __init__(self, data: LabelledSet, reference: Encoder) -> None:
        from visearch.vectors.images import load_image

        self.data = data
        self.query_images = [load_image(str(path)) for path, _ in data.queries]
        self.gallery_images = [load_image(str(path)) for _, path in data.gallery]
        self.skus = [sku for sku, _ in data.gallery]
        self.reference = self.vectors(reference)
        self.reference_recall = self.recall(*self.reference)

    def vectors(self, encoder: Encoder) -> tuple[np.ndarray, np.ndarray]:
        return encoder.embed_images(self.query_images), encoder.embed_images(self.gallery_images)

    def recall(self, queries: np.ndarray, gallery: np.ndarray) -> dict[int, float]:
        """Exact cosine ranking, ties to the smaller sku (as bench/grocery.py)."""
        order = sorted(range(len(self.skus)), key=lambda i: self.skus[i])
        skus = [self.skus[i] for i in order]
        top = np.argsort(-(queries @ gallery[order].T), axis=1, kind="stable")[:, : max(KS)]
        relevant = [wanted for _, wanted in self.data.queries]
        return {
            k: float(
                np.mean(
                    [
                        bool({skus[i] for i in row[:k]} & wanted)
                        for row, wanted in zip(top, relevant, strict=True)
                    ]
                )
            )
            for k in KS
        }

    def judge(self, label: str, candidate: Encoder) -> Verdict:
        queries, gallery = self.vectors(candidate)
        cosine = np.concatenate(
            [
                np.sum(queries * self.reference[0], axis=1),
                np.sum(gallery * self.reference[1], axis=1),
            ]
        )
        recall = self.recall(queries, gallery)
        reasons = _reasons(recall, self.reference_recall, cosine)
        return Verdict(
            label,
            not reasons,
            recall,
            self.reference_recall,
            float(cosine.mean()),
            float(cosine.min()),
            len(queries),
            len(gallery),
            self.data.id,
            reasons,
        )


def _reasons(
    recall: dict[int, float], reference: dict[int, float], cosine: np.ndarray
) -> list[str]:
    reasons = [
        f"R@{k} {recall[k]:.3f} is {reference[k] - recall[k]:.3f} below fp32 (> {RECALL_TOLERANCE})"
        for k in GATED_KS
        if reference[k] - recall[k] > RECALL_TOLERANCE + 1e-9
    ]
    if float(cosine.mean()) < MIN_MEAN_COSINE:
        reasons.append(f"mean cosine to fp32 {cosine.mean():.4f} < {MIN_MEAN_COSINE}")
    return reasons


def calibration_photos(
    source: Path | Sequence[Path], limit: int, exclude: set[Path] = frozenset()
) -> list[Path]:
    """Photos to calibrate int8 on: a folder (its images, recursively), a CSV with an `image`
    column (relative to it), or a list; evenly sampled down to `limit`; photos of the quality
    set are left out, so the gate never judges on what calibration saw."""
    if isinstance(source, str | Path):
        source = Path(source)
        if source.is_dir():
            photos = sorted(p for p in source.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
        elif source.is_file():
            photos = [source.parent / row["image"] for row in _rows(source) if row.get("image")]
        else:
            raise EncoderError(f"calibration photos: {source} is not a folder or a CSV")
    else:
        photos = [Path(p) for p in source]
    photos = [p for p in photos if p.resolve() not in exclude]
    if not photos:
        raise EncoderError("calibration photos: none found (outside the quality set)")
    step = max(1, len(photos) / limit)
    return [photos[int(i * step)] for i in range(min(limit, len(photos)))]


_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
