"""Printing for bench/encode_throughput.py: one table per model, the speedup lines, the
quality gate's figures and the targets."""

from __future__ import annotations

from typing import Any

from bench.encode_variants import Variant

SPEED_TARGETS = {"efficientnet-lite0": 5.0, "clip": 2.5}
LATENCY_TARGET = 5.0  # batch-1 p95 at most 1/5 of torch's


def rows(variants: list[Variant], n: int) -> list[dict[str, Any]]:
    torch = variants[0]
    return [
        {
            "variant": v.label,
            "threads": v.threads,
            "img_per_s": round(v.img_per_s(n), 1),
            "speedup": round(v.img_per_s(n) / torch.img_per_s(n), 2),
            "p50_ms": round(v.latency_ms(50), 1),
            "p95_ms": round(v.latency_ms(95), 1),
            **{k: round(x, 4) for k, x in v.fidelity.items()},
        }
        for v in variants
    ]


def print_model(title: str, table: list[dict[str, Any]], note: str) -> None:
    print(f"\n== {title} ==\n{note}")
    header = (
        "variant",
        "threads",
        "img/s b32",
        "x torch",
        "b1 p50 ms",
        "b1 p95 ms",
        "cos to torch (mean/min)",
        "top-10 kept",
    )
    lines = [
        (
            r["variant"],
            str(r["threads"]),
            f"{r['img_per_s']:.1f}",
            f"{r['speedup']:.1f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['mean_cosine']:.4f} / {r['min_cosine']:.4f}",
            f"{r['neighbours']:.3f}",
        )
        for r in table
    ]
    _table(header, lines)
    for r in table[1:]:
        print(f"speedup {r['variant']} over torch fp32: {r['speedup']:.1f}x")


def print_gate(gate: dict[str, Any]) -> None:
    print(f"\nquality gate: {gate['set']}")
    header = ("variant", "R@1", "R@5", "R@10", "mean cos", "min cos", "verdict")
    ref = gate["reference"]
    lines = [("fp32 (reference)", *(f"{ref[k]:.3f}" for k in (1, 5, 10)), "1", "1", "")]
    for label, v in gate["verdicts"].items():
        outcome = "passed" if v["passed"] else "refused: " + "; ".join(v["reasons"])
        recall = v["recall"]
        lines.append(
            (
                label,
                *(f"{recall[k]:.3f}" for k in (1, 5, 10)),
                f"{v['mean_cosine']:.4f}",
                f"{v['min_cosine']:.4f}",
                outcome,
            )
        )
    _table(header, lines)


def print_fast_path(model: str, table: list[dict[str, Any]], label: str, how: str) -> dict:
    """The default fast path's figures against the targets; returns them for --json."""
    row = next(r for r in table if r["variant"] == label)
    torch = table[0]
    target = SPEED_TARGETS["clip" if model.startswith("clip") else model]
    latency = torch["p95_ms"] / row["p95_ms"]
    result = {
        "model": model,
        "fast_path": label,
        "chosen_by": how,
        "speedup": row["speedup"],
        "speed_target": target,
        "speed_met": row["speedup"] >= target,
        "p95_ms": row["p95_ms"],
        "torch_p95_ms": torch["p95_ms"],
        "latency_met": latency >= LATENCY_TARGET,
    }
    print(
        f"fast path {model}: {label} ({how}): {row['speedup']:.1f}x torch fp32 img/s "
        f"(target >= {target}x: {_met(result['speed_met'])}); batch-1 p95 {row['p95_ms']:.1f} "
        f"vs torch {torch['p95_ms']:.1f} ms = 1/{latency:.1f} (target <= 1/{LATENCY_TARGET:g}: "
        f"{_met(result['latency_met'])})"
    )
    return result


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _table(header: tuple[str, ...], lines: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *lines]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
