"""Real EfficientNet-Lite0 weights on real catalog photos, searched through the real node."""

from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np
import pytest
from opensearchpy import helpers

from support import FASHION
from visearch.vectors.images import load_image

ARTICLE_TYPES = ("Tshirts", "Casual Shoes", "Watches", "Handbags", "Jeans", "Sunglasses")
PER_TYPE = 8


def _sample_catalog() -> list[dict[str, str]]:
    by_type: dict[str, list[dict[str, str]]] = defaultdict(list)
    with FASHION.joinpath("catalog.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if (
                row["article_type"] in ARTICLE_TYPES
                and len(by_type[row["article_type"]]) < PER_TYPE
            ):
                by_type[row["article_type"]].append(row)
    return [row for rows in by_type.values() for row in rows]


@pytest.mark.slow
def test_efficientnet_neighbours_in_opensearch(os_client, index_name, encoder) -> None:
    rows = _sample_catalog()
    assert len(rows) == len(ARTICLE_TYPES) * PER_TYPE
    vectors = encoder.embed_images([load_image(row["image"], base_dir=FASHION) for row in rows])
    os_client.indices.create(
        index=index_name,
        body={
            "settings": {"index": {"knn": True, "number_of_shards": 1}},
            "mappings": {
                "properties": {
                    "vec": {
                        "type": "knn_vector",
                        "dimension": encoder.dim,
                        "method": {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"},
                    },
                    "article_type": {"type": "keyword"},
                }
            },
        },
    )
    helpers.bulk(
        os_client,
        (
            {
                "_index": index_name,
                "_id": r["sku"],
                "vec": v.tolist(),
                "article_type": r["article_type"],
            }
            for r, v in zip(rows, vectors, strict=True)
        ),
        refresh=True,
    )

    same_type_scores: list[float] = []
    other_type_scores: list[float] = []
    for row, vector in zip(rows, vectors, strict=True):
        body = {
            "size": len(rows),
            "query": {"knn": {"vec": {"vector": vector.tolist(), "k": len(rows)}}},
        }
        hits = os_client.search(index=index_name, body=body)["hits"]["hits"]
        assert hits[0]["_id"] == row["sku"], f"{row['sku']} is not its own nearest neighbour"
        for hit in hits[1:]:
            same = hit["_source"]["article_type"] == row["article_type"]
            (same_type_scores if same else other_type_scores).append(hit["_score"])

    # Same article type scores higher on average than other categories, by a clear margin.
    assert np.mean(same_type_scores) > np.mean(other_type_scores) + 0.1
