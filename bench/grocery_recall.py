"""Grocery visual-search recall through the real system, beside exact cosine on the same vectors.

Ingests the 81-product grocery gallery with the real pipeline into a fresh alias, searches the
296 `val` shopper photos through `Searcher.search(SearchParams(image=..., k=10))`, and prints
Recall@1/5/10 of the system, of brute-force cosine over the same embeddings, and the
difference (what the index and request path lose; tests/test_grocery_recall.py asserts it is
at most 0.005). The shared code is bench/grocery.py.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/grocery_recall.py [--json]

It needs OpenSearch (OPENSEARCH_URL, default the local node: `visearch opensearch up`) and
writes to the alias `bench-grocery` (deleted first).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from visearch.commands.options import env_opensearch_url

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python bench/grocery_recall.py` as well as `-m bench...`
    sys.path.insert(0, str(REPO_ROOT))


def main() -> None:
    from bench.grocery import GROCERY

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=GROCERY, help="The grocery folder.")
    parser.add_argument("--encoder", default="efficientnet-lite0")
    parser.add_argument("--alias", default="bench-grocery")
    parser.add_argument("--split", default="val")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from bench.grocery import KS, evaluate, ingest_gallery
    from visearch.engine.connection import make_client
    from visearch.mappings.install import template_name
    from visearch.vectors import load_encoder

    client = make_client(args.opensearch_url, timeout_s=120)
    encoder = load_encoder(args.encoder)
    client.indices.delete(index=f"{args.alias}-v*", ignore_unavailable=True, expand_wildcards="all")
    client.indices.delete_index_template(name=template_name(args.alias), ignore=[404])
    started = time.perf_counter()
    summary = ingest_gallery(client, args.alias, encoder, args.data)
    ingest_seconds = time.perf_counter() - started
    report = evaluate(client, args.alias, encoder, args.data, KS, args.split)

    if args.json:
        print(json.dumps({**report.as_dict(), "ingest_seconds": round(ingest_seconds, 2)}))
        return
    print(
        f"grocery {args.split}: {report.queries} shopper photos -> {report.gallery} catalog "
        f"products, encoder {report.encoder}, alias {args.alias} ({summary.index})"
    )
    print(f"{'':14}" + "".join(f"{f'R@{k}':>9}" for k in KS))
    for name, values in (
        ("system", report.system),
        ("exact cosine", report.exact),
        ("difference", report.difference),
    ):
        sign = "+" if name == "difference" else ""
        print(f"{name:14}" + "".join(f"{values[k]:>{sign}9.4f}" for k in KS))
    worst = max(abs(d) for d in report.difference.values())
    mark = "PASS" if worst <= 0.005 else "FAIL"
    print(f"|system - exact| max {worst:.4f}   (target <= 0.005)  {mark}")
    print(
        f"ingest {ingest_seconds:.1f} s; {report.queries} searches {report.search_seconds:.1f} s "
        f"({1000 * report.search_seconds / report.queries:.0f} ms each, incl. load + encode)"
    )


if __name__ == "__main__":
    main()
