"""Memory of `visearch serve` under a burst of small uploads that decode to huge images.

Starts `visearch serve` on the fashion index, warms it up, then sends bursts of concurrent
uploads, all at once, from loopback: PNGs of a few hundred KB that decode to just under the
query pixel budget (the worst an accepted upload can do), and 6000x6000 PNGs (36 Mpx, refused
from their header). It samples the server's RSS from /proc every 50 ms and prints the
baseline, the peak during the bursts, and the RSS 30 s after the last answer.

    .venv/bin/python bench/api_abuse.py [--alias bench-fashion] [--clients 16] [--json]

Targets: peak <= baseline + 600 MiB; 30 s later, back within 100 MiB of the baseline. The
alias must exist (bench/query_latency.py or bench/ingest_throughput.py builds one).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from visearch.commands.options import env_opensearch_url  # noqa: E402

PEAK_TARGET_MIB = 600
SETTLED_TARGET_MIB = 100
FASHION = REPO_ROOT.parent / "shared" / "data" / "fashion"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alias", default="bench-fashion")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--clients", type=int, default=16, help="Uploads sent at once.")
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--side", type=int, default=3990, help="Accepted PNG's side (px).")
    parser.add_argument("--settle-s", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_result(result)


def noisy_png(side: int, seed: int) -> bytes:
    """A PNG that stays small on disk (a few flat colours with some noise rows) but decodes
    to side x side RGB pixels."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((side, side, 3), dtype=np.uint8)
    pixels[:, :, 0] = (np.arange(side) * 7 % 256).astype(np.uint8)
    pixels[:: max(side // 64, 1)] = rng.integers(0, 256, (len(pixels[:: max(side // 64, 1)]),
                                                         side, 3), dtype=np.uint8)  # fmt: skip
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def bomb_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (6000, 6000)).save(buffer, "PNG")
    return buffer.getvalue()


class RssSampler:
    """The peak of a process's resident memory, sampled from /proc every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> RssSampler:
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def burst(base: str, uploads: list[bytes]) -> dict[str, int]:
    """All `uploads` at once; how many answers of each status came back."""

    def send(data: bytes) -> int:
        files = {"image": ("upload.png", data, "image/png")}
        return requests.post(f"{base}/v1/search", files=files, timeout=120).status_code

    with ThreadPoolExecutor(len(uploads)) as pool:
        codes = list(pool.map(send, uploads))
    return {str(code): codes.count(code) for code in sorted(set(codes))}


def measure(args: argparse.Namespace) -> dict:
    from visearch.web.launch import serve_in_background

    accepted = [noisy_png(args.side, seed) for seed in range(4)]
    bomb = bomb_png()
    warm = [(FASHION / "images" / f"{sku}.jpg").read_bytes() for sku in ("10000", "10045")]
    with serve_in_background(args.opensearch_url, args.alias, [], environ=os.environ) as base:
        for data in warm * 3:  # the model, the batcher and the client pools warmed up
            requests.post(f"{base}/v1/search", files={"image": ("w.jpg", data)}, timeout=60)
        sampler = RssSampler(base.pid)
        baseline = sampler.now()
        answers: dict[str, dict[str, int]] = {}
        with sampler:
            for n in range(args.bursts):
                uploads = [accepted[i % len(accepted)] for i in range(args.clients)]
                answers[f"accepted-size burst {n + 1}"] = burst(base, uploads)
            answers["36 Mpx burst"] = burst(base, [bomb] * args.clients)
        time.sleep(args.settle_s)
        settled = sampler.now()
        healthy = requests.get(f"{base}/healthz", timeout=5).status_code
    mib = 1024 * 1024
    return {
        "clients": args.clients,
        "accepted_png": {"side": args.side, "bytes": len(accepted[0])},
        "bomb_png_bytes": len(bomb),
        "answers": answers,
        "baseline_mib": round(baseline / mib, 1),
        "peak_mib": round(sampler.peak / mib, 1),
        "settled_mib": round(settled / mib, 1),
        "peak_over_baseline_mib": round((sampler.peak - baseline) / mib, 1),
        "settled_over_baseline_mib": round((settled - baseline) / mib, 1),
        "healthz_after": healthy,
    }


def print_result(result: dict) -> None:
    png = result["accepted_png"]
    print(
        f"{result['clients']} concurrent uploads per burst: {png['side']}x{png['side']} PNG "
        f"({png['bytes'] / 1024:.0f} KB) and 6000x6000 PNG ({result['bomb_png_bytes']} bytes)"
    )
    for name, codes in result["answers"].items():
        print(f"  {name}: " + ", ".join(f"{count} x HTTP {code}" for code, count in codes.items()))
    peak, settled = result["peak_over_baseline_mib"], result["settled_over_baseline_mib"]
    print(f"RSS baseline {result['baseline_mib']} MiB")
    verdict = "meets" if peak <= PEAK_TARGET_MIB else "MISSES"
    print(f"RSS peak     {result['peak_mib']} MiB (+{peak}; {verdict} <= +{PEAK_TARGET_MIB})")
    verdict = "meets" if abs(settled) <= SETTLED_TARGET_MIB else "MISSES"
    print(f"RSS after 30 s {result['settled_mib']} MiB ({settled:+}; {verdict} within "
          f"{SETTLED_TARGET_MIB})")  # fmt: skip
    print(f"/healthz after: {result['healthz_after']}")


if __name__ == "__main__":
    main()
