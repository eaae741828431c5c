"""The report of bench/query_latency.py: pass/fail checks against the targets (synthetic rows:
recall@10 >= 0.98, took and round-trip p95 <= 30 ms; fashion, per runtime: total p95 / encode
p95 <= 1.3, and the last runtime's total p95 at most half the first's), and the printed tables."""

from __future__ import annotations

from typing import Any

from bench.latency_common import FACETS, RECALL_K, STAGES, TARGET_P95_MS, TARGET_RECALL

TARGET_TOTAL_OVER_ENCODE = 1.3
TARGET_FAST_OVER_TORCH = 0.5


def checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    return _fashion_checks(report.get("fashion") or []) + _synthetic_checks(report)


def _fashion_checks(sides: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [
        _check(
            f"fashion total / encode p95, {s['label']}",
            s["total_over_encode_p95"],
            "<=",
            TARGET_TOTAL_OVER_ENCODE,
        )
        for s in sides
    ]
    if len(sides) > 1:
        first, last = sides[0], sides[-1]
        ratio = last["stages_ms"]["total_ms"]["p95"] / first["stages_ms"]["total_ms"]["p95"]
        name = f"fashion total p95, {last['label']} / {first['label']}"
        out.append(_check(name, round(ratio, 3), "<=", TARGET_FAST_OVER_TORCH))
    return out


def _synthetic_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    synthetic = report.get("synthetic")
    if not synthetic:
        return []
    out = []
    size = f"{synthetic['products'] // 1000}k"
    for s in synthetic["scenarios"]:
        if s["filter"] == "none":
            continue
        name = f"{s['filter']} ({100 * s['selectivity']:.0f}%), {s['queries']}, {size}"
        out.append(_check(f"recall@10, {name}", s["recall_at_10"], ">=", TARGET_RECALL))
        out.append(_check(f"took p95, {name}", s["took_ms"]["p95"], "<=", TARGET_P95_MS))
        out.append(
            _check(f"round trip p95, {name}", s["round_trip_ms"]["p95"], "<=", TARGET_P95_MS)
        )
    return out


def _check(name: str, value: float, op: str, target: float) -> dict[str, Any]:
    ok = value >= target if op == ">=" else value <= target
    return {"check": name, "value": value, "target": f"{op} {target:g}", "pass": ok}


def print_report(report: dict[str, Any]) -> None:
    print(f"load average before/after: {report['load_before']} / {report['load_after']}")
    for side in report.get("fashion") or []:
        _print_fashion(side)
    synthetic = report.get("synthetic")
    if synthetic:
        _print_synthetic(synthetic)
    if report["checks"]:
        _print_checks(report["checks"])


def _print_fashion(fashion: dict[str, Any]) -> None:
    print(
        f"\nFashion, runtime {fashion['label']}: {fashion['products']:,} products in "
        f"{fashion['alias']} ({fashion['encoder']} on {fashion['runtime']}, "
        f"{fashion['segments']} segments); {fashion['queries']} catalog "
        f"photos as queries ({fashion['warmup']} warm-up discarded), k {fashion['k']}, pool "
        f"{fashion['candidates']}, facets {'/'.join(FACETS)}, filter: {fashion['filter']}"
    )
    print(f"  {'stage':24}{'p50 ms':>9}{'p95 ms':>9}{'mean':>9}")
    for label, attr in STAGES:
        s = fashion["stages_ms"][attr]
        print(f"  {label:24}{s['p50']:9.1f}{s['p95']:9.1f}{s['mean']:9.1f}")
    print(f"  query photo is the top hit: {fashion['photo_is_top_hit']:.3f}")
    print(f"  total p95 / encode p95: {fashion['total_over_encode_p95']:.2f}")


def _print_synthetic(synthetic: dict[str, Any]) -> None:
    print(
        f"\nSynthetic: {synthetic['products']:,} x {synthetic['dim']} in {synthetic['alias']} "
        f"({synthetic['segments']} segment(s), HNSW m 16 ef_construction 128, lucene); "
        f"{synthetic['queries']} perturbed-product queries per row ({synthetic['warmup']} "
        f"warm-up discarded), k {RECALL_K}, facets {'/'.join(FACETS)}"
    )
    for mix, meaning in synthetic["query_mixes"].items():
        print(f"  queries {mix!r}: {meaning}")
    print(_HEADER)
    for s in synthetic["scenarios"]:
        print(_row(s))
    if synthetic["candidates_sweep"]:
        print("  candidates sweep (pool size N = the lucene k):")
        for s in synthetic["candidates_sweep"]:
            print(_row(s))


def _print_checks(checks: list[dict[str, Any]]) -> None:
    print(f"\n  {'check':58}{'value':>9}  {'target':10}")
    for c in checks:
        mark = "PASS" if c["pass"] else "FAIL"
        print(f"  {c['check']:58}{c['value']:9.3f}  {c['target']:10}{mark}")


_HEADER = (
    f"  {'filter':18}{'share':>7}{'queries':>8}{'pool':>6}{'recall@10':>11}"
    f"{'took p50':>10}{'p95':>7}{'rtrip p50':>11}{'p95':>7}"
)


def _row(s: dict[str, Any]) -> str:
    return (
        f"  {s['filter']:18}{100 * s['selectivity']:6.1f}%{s['queries']:>8}{s['candidates']:6d}"
        f"{s['recall_at_10']:11.4f}{s['took_ms']['p50']:10.1f}{s['took_ms']['p95']:7.1f}"
        f"{s['round_trip_ms']['p50']:11.1f}{s['round_trip_ms']['p95']:7.1f}"
    )


def side_by_side(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One row per measured case, one column group per cluster: the round trip the client
    sees (p50/p95), the engine's own `took` p95, and the case's quality figure (recall@10
    against exact cosine; for the fashion photos, the photo's product is the top hit)."""
    engines = [f"{r['engine']} {r['opensearch']}" for r in reports]
    rows: dict[str, dict[str, Any]] = {}
    for engine, report in zip(engines, reports, strict=True):
        for side in report.get("fashion") or []:
            stages = side["stages_ms"]
            name = f"fashion {side['products']:,} docs, photo, {side['label']}"
            rows.setdefault(name, {})[engine] = _cell(
                stages["opensearch_ms"], stages["opensearch_took_ms"], side["photo_is_top_hit"]
            )
        synthetic = report.get("synthetic")
        for s in (synthetic or {}).get("scenarios", []):
            size = f"{synthetic['products'] // 1000}k docs"
            share = f" ({100 * s['selectivity']:.0f}%)" if s["filter"] != "none" else ""
            name = f"synthetic {size}, filter {s['filter']}{share}, queries {s['queries']}"
            rows.setdefault(name, {})[engine] = _cell(
                s["round_trip_ms"], s["took_ms"], s["recall_at_10"]
            )
    return {"engines": engines, "rows": [{"case": k, "by_engine": v} for k, v in rows.items()]}


def _cell(round_trip: dict[str, float], took: dict[str, float], quality: float) -> dict:
    return {
        "round_trip_p50": round_trip["p50"],
        "round_trip_p95": round_trip["p95"],
        "took_p95": took["p95"],
        "quality": quality,
    }


def print_side_by_side(table: dict[str, Any]) -> None:
    engines = table["engines"]
    print("\nSide by side (same queries, same machine, each part on each engine in turn):")
    print("  round trip p50 / p95 ms, the engine's took p95 ms, and quality (recall@10;")
    print("  for fashion photos: the photo's own product is the top hit)")
    head = "| case | " + " | ".join(f"{e}: p50 / p95 (took p95), quality" for e in engines)
    print(head + " |")
    print("|---|" + "---|" * len(engines))
    for row in table["rows"]:
        cells = []
        for engine in engines:
            c = row["by_engine"].get(engine)
            cells.append(
                "-"
                if c is None
                else f"{c['round_trip_p50']:.1f} / {c['round_trip_p95']:.1f} "
                f"({c['took_p95']:.1f}), {c['quality']:.3f}"
            )
        print(f"| {row['case']} | " + " | ".join(cells) + " |")
