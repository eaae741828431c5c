"""How long `visearch eval` takes beside the model work it cannot avoid.

Runs the grocery val queries (296 shopper photos) through the real evaluation (batched
decoding, batched encoding, one `_msearch` per batch, exact ranking, diagnostics) on the
alias `bench-grocery` (the gallery is ingested first when the alias is missing), then times
the encoder alone on the same photos, decoded beforehand, in batches of 32.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/eval_speed.py [--json]

Target: eval wall time / encode time <= 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.grocery import GROCERY, ingest_gallery  # noqa: E402
from visearch.commands.options import env_opensearch_url  # noqa: E402

TARGET = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alias", default="bench-grocery")
    parser.add_argument("--encoder", default="efficientnet-lite0")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from visearch.engine.connection import make_client
    from visearch.plugin.search import Searcher
    from visearch.quality.evaluate import run_eval
    from visearch.quality.queries import read_queries
    from visearch.vectors import load_encoder
    from visearch.vectors.images import load_image

    client = make_client(args.opensearch_url, timeout_s=120)
    encoder = load_encoder(args.encoder)
    if not client.indices.exists_alias(name=args.alias):
        ingest_gallery(client, args.alias, encoder)
    queries = read_queries(GROCERY / "queries.csv", split="val")
    searcher = Searcher(client, args.alias, encoder)
    run_eval(searcher, queries[:32], k_max=20)  # warm-up: model, client, caches
    started = time.perf_counter()
    report = run_eval(searcher, queries, k_max=20)
    eval_s = time.perf_counter() - started
    images = [load_image(str(query.image)) for query in queries]
    started = time.perf_counter()
    for start in range(0, len(images), 32):
        encoder.embed_images(images[start : start + 32])
    encode_s = time.perf_counter() - started
    result = {
        "queries": len(queries),
        "eval_s": round(eval_s, 2),
        "encode_s": round(encode_s, 2),
        "ratio": round(eval_s / encode_s, 3),
        "target": TARGET,
        "eval_stage_s": report.seconds,
        "recall@1": report.metrics["recall@1"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"eval of {len(queries)} grocery val queries: {eval_s:.1f} s ({report.seconds})")
    print(f"encoder alone on the same photos: {encode_s:.1f} s")
    verdict = "meets" if result["ratio"] <= TARGET else "MISSES"
    print(f"eval / encode: {result['ratio']:.3f} ({verdict} <= {TARGET})")


if __name__ == "__main__":
    main()
