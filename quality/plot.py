"""Recall@K curves as a PNG, one line per evaluated system."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def plot_recall_curves(
    curves: Sequence[tuple[str, Sequence[float]]], path: Path, title: str
) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    for label, curve in curves:
        ks = range(1, len(curve) + 1)
        axes.plot(ks, curve, marker="o", markersize=3, label=label or "run")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # K is a whole number
    axes.set_xlabel("K")
    axes.set_ylabel("Recall@K")
    axes.set_ylim(0, 1)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
