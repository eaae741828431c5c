"""Grocery shopper photos -> catalog, through ingest, Searcher and the real node (bench/grocery.py).

The system's Recall@K must equal brute-force cosine over the same embeddings (the index and
request path lose nothing on 81 products), and land in EfficientNet-Lite0's band, so a broken
encoder or loader fails here: R@1 0.375, R@5 0.68 with the TF-style (x - 127) / 128 input the
encoder uses (0.27 / 0.53 with torchvision's ImageNet mean/std instead); a random or
mis-fed model scores about 1/81 at R@1.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.grocery import KS, RecallReport, evaluate, ingest_gallery
from support import GROCERY, RUN_PREFIX, drop_indices
from visearch.mappings.install import template_name

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(os_client, encoder) -> Iterator[RecallReport]:  # noqa: ANN001
    alias = f"{RUN_PREFIX}-grocery"
    try:
        summary = ingest_gallery(os_client, alias, encoder, GROCERY)
        assert summary.embedded == 81
        yield evaluate(os_client, alias, encoder, GROCERY)
    finally:
        drop_indices(os_client, f"{alias}*")
        os_client.indices.delete_index_template(name=template_name(alias), ignore=[404])


def test_every_val_query_is_searched(report: RecallReport) -> None:
    assert (report.queries, report.gallery) == (296, 81)


@pytest.mark.parametrize("k", KS)
def test_system_recall_equals_exact_cosine(report: RecallReport, k: int) -> None:
    assert abs(report.system[k] - report.exact[k]) <= 0.005, report.as_dict()


def test_recall_is_in_the_encoders_band(report: RecallReport) -> None:
    assert 0.2 <= report.system[1] <= 0.5, report.as_dict()
    assert report.system[5] > 0.4, report.as_dict()
    assert report.system[1] <= report.system[5] <= report.system[10]
