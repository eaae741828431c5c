"""Relevance of words, and of a photo refined by a word, on the fashion catalog: before/after.

1. **Words.** 500 queries built from held-out products' attributes (20% of skus by hash):
   "{colour} {article type}" and "{colour} {article type} for {gender}", in the catalog's own
   spelling and in lower case. Relevant: the products having all those attributes. P@10
   (relevant hits in the top 10 over min(10, relevant products)) and nDCG@10, for each
   keyword rule: `before` (title and description, any word) and the candidate rules.
2. **Photo + a refining word.** 300 held-out products' photos, each with a colour group word
   other than its own (one its article type comes in). Relevant: same article type and that
   colour group. P@10 and the photographed product's own rank, for each fusion and weight.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/relevance.py [--alias bench-fashion] [--json]

Targets: words P@10 >= 0.95; photo + word P@10 >= 0.80 with the photo's product in the top 3.
The alias must hold the fashion catalog with mapping version 5 (`visearch ingest
../shared/data/fashion/catalog.csv --index bench-fashion --rebuild` copies the vectors).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import math
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from visearch.commands.options import env_opensearch_url  # noqa: E402

FASHION = REPO_ROOT.parent / "shared" / "data" / "fashion"
WORD_RULES = {  # name -> (text fields, minimum_should_match, value boost; 0: no vocabulary)
    "before": (("title^2", "description"), "1", 0.0),
    "cross fields, any word": (None, "1", 0.0),
    "cross fields, all words": (None, "100%", 0.0),
    "cross fields, most words + values": (None, "2<-34%", 4.0),
    "cross fields, any word + values": (None, "1", 4.0),
}
FUSIONS = [("linear", 0.2), ("linear", 0.3), ("linear", 0.4), ("linear", 0.5), ("linear", 0.6),
           ("rrf", 0.3), ("rrf", 0.5), ("rrf", 0.7)]  # fmt: skip


def held_out(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if int(hashlib.sha256(r["sku"].encode()).hexdigest(), 16) % 5 == 0]


def word_queries(rows: list[dict[str, str]], n: int = 500) -> list[tuple[str, set[str]]]:
    """(words, relevant skus) from held-out products' colour, article type and gender."""
    by_key: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for row in rows:
        by_key[(row["colour"], row["article_type"])].add(row["sku"])
        by_key[(row["colour"], row["article_type"], row["gender"])].add(row["sku"])
    rng = random.Random(0)
    picks = [r for r in held_out(rows) if r["colour"]]
    queries = []
    for i in range(n):
        row = picks[rng.randrange(len(picks))]
        with_gender = i % 2 == 1
        key = (row["colour"], row["article_type"], *([row["gender"]] if with_gender else []))
        text = f"{row['colour']} {row['article_type']}" + (
            f" for {row['gender']}" if with_gender else ""
        )
        queries.append((text.lower() if i % 4 >= 2 else text, by_key[key]))
    return queries


def precision_ndcg(ranked: list[str], relevant: set[str]) -> tuple[float, float]:
    top = ranked[:10]
    found = sum(sku in relevant for sku in top)
    dcg = sum(1 / math.log2(i + 2) for i, sku in enumerate(top) if sku in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return found / min(10, len(relevant)), dcg / ideal


@contextlib.contextmanager
def keyword_rule(searcher: Any, name: str) -> Iterator[None]:
    """plugin.keyword's rule `name` for the block (a bench-only switch of its constants)."""
    from visearch.plugin import keyword

    fields, msm, boost = WORD_RULES[name]
    saved = (keyword.TEXT_FIELDS, keyword.MINIMUM_SHOULD_MATCH, keyword.VALUE_BOOST)
    keyword.TEXT_FIELDS = fields or saved[0]
    keyword.MINIMUM_SHOULD_MATCH, keyword.VALUE_BOOST = msm, boost
    if boost == 0:
        searcher._vocabulary[:] = [(float("inf"), keyword.EMPTY)]  # no values recognised
    try:
        yield
    finally:
        keyword.TEXT_FIELDS, keyword.MINIMUM_SHOULD_MATCH, keyword.VALUE_BOOST = saved
        searcher._vocabulary.clear()


def words_part(searcher: Any, rows: list[dict[str, str]]) -> dict[str, dict[str, float]]:
    from visearch.plugin.params import SearchParams

    queries = word_queries(rows)
    out = {}
    for name in WORD_RULES:
        with keyword_rule(searcher, name):
            scores = []
            for text, relevant in queries:
                hits = searcher.search(SearchParams(keywords=text, k=10)).hits
                scores.append(precision_ndcg([h.sku for h in hits], relevant))
        out[name] = {
            "P@10": round(sum(p for p, _ in scores) / len(scores), 4),
            "nDCG@10": round(sum(d for _, d in scores) / len(scores), 4),
        }
    return out


def photo_queries(rows: list[dict[str, str]], n: int = 300) -> list[tuple[dict, str, set]]:
    """(product, colour word, relevant skus): a colour group other than the product's."""
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        groups[(row["article_type"], row["colour_group"])].add(row["sku"])
    rng = random.Random(1)
    picks = [r for r in held_out(rows) if r["colour_group"]]
    out = []
    while len(out) < n:
        row = picks[rng.randrange(len(picks))]
        others = [
            group
            for (kind, group), skus in groups.items()
            if kind == row["article_type"] and group not in (row["colour_group"], "") and
            len(skus) >= 10
        ]  # fmt: skip
        if others:
            word = rng.choice(sorted(others))
            out.append((row, word.lower(), groups[(row["article_type"], word)]))
    return out


def before_photo_and_word(searcher: Any, vector: Any, word: str, n: int = 200) -> list[str]:
    """The ranking before this benchmark's changes: BM25 on title and description within the
    visual pool, plain RRF (what a photo plus words did on 2026-11-29)."""
    from visearch.plugin.fusion import rrf
    from visearch.plugin.knn import knn_clause
    from visearch.plugin.ranking import by_score
    from visearch.plugin.request import hit_fields
    from visearch.plugin.response import candidates

    knn = knn_clause(vector, n, [])
    words = {"multi_match": {"query": word, "fields": ["title^2", "description"]}}
    within = {"bool": {"should": [words], "minimum_should_match": 1, "filter": [knn]}}
    fields = hit_fields(searcher.schema)
    body = [{}, {"size": n, "query": knn, **fields}, {}, {"size": n, "query": within, **fields}]
    responses = searcher.client.msearch(index=searcher.alias, body=body)["responses"]
    lists = [[h.sku for h in by_score(candidates(response))] for response in responses]
    fused = rrf(lists)
    return sorted(fused, key=lambda sku: (-fused[sku], sku))[:10]


def photo_part(searcher: Any, rows: list[dict[str, str]]) -> dict[str, dict[str, float]]:
    from visearch.plugin.params import SearchParams
    from visearch.vectors.images import load_image

    queries = photo_queries(rows)
    images = [load_image(row["image"], FASHION) for row, _, _ in queries]
    vectors = []
    for start in range(0, len(images), 32):
        vectors.extend(searcher.encoder.embed_images(images[start : start + 32]))
    out = {}
    for fusion, weight in [("before", 0.5), *FUSIONS]:
        scores, own = [], []
        for (row, word, relevant), image, vector in zip(queries, images, vectors, strict=True):
            if fusion == "before":
                hits = before_photo_and_word(searcher, vector, word)
            else:
                params = SearchParams(image=image, keywords=word, k=10, fusion=fusion,
                                      keyword_weight=weight)  # fmt: skip
                hits = [h.sku for h in searcher.search(params, vector=vector).hits]
            scores.append(precision_ndcg(hits, relevant)[0])
            own.append(hits.index(row["sku"]) + 1 if row["sku"] in hits else 11)
        label = "before (title words in pool, rrf)" if fusion == "before" else f"{fusion} {weight}"
        out[label] = {
            "P@10": round(sum(scores) / len(scores), 4),
            "photo_in_top3": round(sum(rank <= 3 for rank in own) / len(own), 4),
            "photo_rank_median": sorted(own)[len(own) // 2],
            "photo_rank_counts": dict(sorted(Counter(min(r, 11) for r in own).items())),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alias", default="bench-fashion")
    parser.add_argument("--opensearch-url", default=env_opensearch_url())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from visearch.engine.connection import make_client
    from visearch.plugin.search import open_searcher
    from visearch.vectors import load_encoder

    with FASHION.joinpath("catalog.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    client = make_client(args.opensearch_url, timeout_s=60)
    searcher = open_searcher(client, args.alias, load_encoder=load_encoder)
    result = {"words": words_part(searcher, rows), "photo_and_word": photo_part(searcher, rows)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("words (500 queries): P@10 / nDCG@10   (target P@10 >= 0.95)")
    for name, figures in result["words"].items():
        print(f"  {name:<36} {figures['P@10']:.3f} / {figures['nDCG@10']:.3f}")
    print("photo + a refining colour word (300): P@10, photo's product in the top 3, median rank")
    for name, figures in result["photo_and_word"].items():
        print(f"  {name:<36} {figures['P@10']:.3f}  {figures['photo_in_top3']:.3f}  "
              f"{figures['photo_rank_median']}")  # fmt: skip


if __name__ == "__main__":
    main()
