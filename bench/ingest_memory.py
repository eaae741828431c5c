"""Peak memory of reading and planning a catalog: does it stay flat in the number of rows?

Writes synthetic catalogs of 10,000 and 1,000,000 rows (the fashion catalog's rows repeated
under new skus, so every row names a real photo) and runs `visearch ingest --dry-run --json`
on each in a fresh process: the catalog is streamed, every photo read and hashed, and every
product planned against the index, but nothing is decoded, embedded or written. Prints each
run's peak RSS (from the kernel, for that process) and the ratio of the two.

    .venv/bin/python bench/ingest_memory.py [--alias bench-ingest] [--rows 10000,1000000] [--json]

Target: peak RSS at 1,000,000 rows <= 1.5 x peak RSS at 10,000 rows. The default alias is
`bench-ingest` (the fashion catalog, from bench/ingest_throughput.py) when it exists, so the
plan is made against a real index; otherwise against an alias that does not exist.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python bench/ingest_memory.py` as well as `-m bench...`
    sys.path.insert(0, str(REPO_ROOT))

from bench.catalogs import repeated_catalog  # noqa: E402
from visearch.commands.options import env_opensearch_url  # noqa: E402

DEFAULT_CATALOG = REPO_ROOT.parent / "shared" / "data" / "fashion" / "catalog.csv"
TARGET = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_CATALOG)
    parser.add_argument("--rows", default="10000,1000000", help="Catalog sizes, small first.")
    parser.add_argument("--alias", default=None, help="Plan against this alias.")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(n) for n in args.rows.split(",")]
    alias = args.alias or _default_alias(args.opensearch_url)
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for rows in sizes:
            path = Path(folder) / f"catalog-{rows}.csv"
            repeated_catalog(args.catalog, rows, path)
            runs.append(dry_run(path, rows, alias, args.opensearch_url, args.catalog.parent))
            path.unlink()
    ratio = runs[-1]["peak_rss_mib"] / runs[0]["peak_rss_mib"]
    result = {"alias": alias, "runs": runs, "ratio": round(ratio, 3), "target": TARGET}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"dry-run ingest against {alias!r} (stream, hash photos, plan; write nothing)")
    for run in runs:
        print(
            f"{run['rows']:>9,} rows  peak RSS {run['peak_rss_mib']:7.1f} MiB  "
            f"{run['seconds']:7.1f} s  planned: embed {run['embedded']}, "
            f"unchanged {run['unchanged']}, update {run['updated']}"
        )
    verdict = "meets" if ratio <= TARGET else "MISSES"
    print(f"peak RSS {sizes[-1]:,} / {sizes[0]:,} rows: {ratio:.3f} ({verdict} <= {TARGET})")


def dry_run(catalog: Path, rows: int, alias: str, url: str, images: Path) -> dict:
    """`visearch ingest --dry-run` in its own process; its summary and its peak RSS."""
    link = catalog.parent / "images"  # the catalog's relative image paths, as in its folder
    if not link.exists():
        link.symlink_to(images / "images")
    command = [str(Path(sys.executable).with_name("visearch")), "ingest", str(catalog)]
    command += ["--dry-run", "--json", "--quiet", "--index", alias, "--opensearch-url", url]
    command += ["--encoder", "efficientnet-lite0"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # reaps it, with its own resource usage
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if process.returncode not in (0, 1):
            raise SystemExit(f"dry run failed ({process.returncode}): {err.read()[-2000:]!r}")
        summary = json.loads(out.read())
    return {
        "rows": rows,
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
        **{k: summary[k] for k in ("read", "embedded", "unchanged", "updated", "failed")},
        "stage_seconds": summary["stage_seconds"],
    }


def _default_alias(url: str) -> str:
    from visearch.engine.connection import make_client

    client = make_client(url)
    return "bench-ingest" if client.indices.exists_alias(name="bench-ingest") else "bench-no-index"


if __name__ == "__main__":
    main()
