"""The nightly ingest against the real node, on a 300-product slice of the fashion catalog."""

from __future__ import annotations

import csv
import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageOps

import cli
from ingest import aliases
from ingest.catalog import read_catalog
from ingest.lock import ingest_lock
from ingest.pipeline import IngestOptions, IngestSummary, run_ingest
from ingest.sync import SyncError
from tests.conftest import FASHION, write_catalog

SLICE = 300
ENCODER = "efficientnet-lite0"

pytestmark = pytest.mark.slow


def fashion_rows(n: int) -> list[dict[str, str]]:
    with FASHION.joinpath("catalog.csv").open(newline="") as handle:
        return [row for _, row in zip(range(n), csv.DictReader(handle), strict=False)]


@pytest.fixture
def slice_dir(tmp_path: Path) -> Path:
    """300 products whose photos are copies we may change."""
    rows = fashion_rows(SLICE)
    (tmp_path / "images").mkdir()
    for row in rows:
        shutil.copy2(FASHION / row["image"], tmp_path / row["image"])
    write_catalog(tmp_path / "catalog.csv", rows)
    return tmp_path


def ingest(client, catalog: Path, alias: str, encoder, **options) -> IngestSummary:  # noqa: ANN001
    return run_ingest(
        client,
        read_catalog(catalog),
        catalog.parent,
        alias,
        ENCODER,
        lambda: encoder,
        IngestOptions(**options),
    )


def count(client, alias: str) -> int:  # noqa: ANN001
    client.indices.refresh(index=alias)
    return client.count(index=alias)["count"]


def test_incremental_sync(os_client, index_name, slice_dir, encoder) -> None:
    catalog = slice_dir / "catalog.csv"
    rows = fashion_rows(SLICE)

    first = ingest(os_client, catalog, index_name, encoder)
    assert (first.read, first.embedded, first.failed) == (SLICE, SLICE, 0)
    assert count(os_client, index_name) == SLICE
    assert aliases.current_index(os_client, index_name) == first.index

    second = ingest(os_client, catalog, index_name, encoder)
    assert (second.embedded, second.unchanged, second.updated, second.deleted) == (0, SLICE, 0, 0)
    assert second.seconds < first.seconds * 0.5  # the real ratio is measured by bench/

    for row in rows[:5]:
        row["title"] = f"Zanzibar {row['title']}"
    write_catalog(catalog, rows)
    titles = ingest(os_client, catalog, index_name, encoder)
    assert (titles.embedded, titles.updated, titles.unchanged) == (0, 5, SLICE - 5)
    os_client.indices.refresh(index=index_name)
    found = os_client.search(index=index_name, body={"query": {"match": {"title": "zanzibar"}}})
    assert {hit["_id"] for hit in found["hits"]["hits"]} == {row["sku"] for row in rows[:5]}
    vector = os_client.get(index=index_name, id=rows[0]["sku"])["_source"]["photos"][0]["vector"]
    assert len(vector) == encoder.dim  # a partial update keeps the stored vector

    for row in rows[10:13]:
        image = slice_dir / row["image"]
        ImageOps.mirror(Image.open(image)).save(image, "JPEG", quality=85)
    images = ingest(os_client, catalog, index_name, encoder)
    assert (images.embedded, images.updated, images.unchanged) == (3, 0, SLICE - 3)

    write_catalog(catalog, rows[:-7])
    removed = ingest(os_client, catalog, index_name, encoder)
    assert (removed.deleted, removed.embedded) == (7, 0)
    assert count(os_client, index_name) == SLICE - 7


def test_mass_delete_is_refused_unless_forced(os_client, index_name, slice_dir, encoder) -> None:
    catalog = slice_dir / "catalog.csv"
    ingest(os_client, catalog, index_name, encoder)
    rows = fashion_rows(SLICE)
    write_catalog(catalog, rows[:100])  # looks like a truncated export

    runner = CliRunner()
    env = {"VISEARCH_ENCODER": ENCODER, "VISEARCH_INDEX": index_name}
    url = ["--opensearch-url", os_client.transport.hosts[0] and _url(os_client)]
    result = runner.invoke(cli.main, ["ingest", str(catalog), *url, "--json"], env=env)
    assert result.exit_code == cli.EXIT_DELETE_REFUSED, result.output
    assert "refusing to delete 200 of 300" in json.loads(result.stdout)["deletions_refused"]
    assert count(os_client, index_name) == SLICE

    forced = runner.invoke(
        cli.main, ["ingest", str(catalog), *url, "--force-delete", "--json"], env=env
    )
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["deleted"] == 200
    assert count(os_client, index_name) == 100


def test_rebuild_swaps_alias_without_downtime(os_client, index_name, slice_dir, encoder) -> None:
    catalog = slice_dir / "catalog.csv"
    first = ingest(os_client, catalog, index_name, encoder)

    failures: list[str] = []
    served_by: list[str] = []  # the concrete index behind each answer, in order
    stop = threading.Event()

    def search_loop() -> None:
        body = {"size": 5, "query": {"match_all": {}}}
        while not stop.is_set():
            try:
                hits = os_client.search(index=index_name, body=body)["hits"]["hits"]
                if not hits:
                    failures.append("empty result")
                else:
                    served_by.append(hits[0]["_index"])
            except Exception as error:  # noqa: BLE001 - any error is a failure
                failures.append(repr(error))

    loop = threading.Thread(target=search_loop)
    loop.start()
    try:
        while not served_by and not failures:
            time.sleep(0.01)
        rebuilt = ingest(os_client, catalog, index_name, encoder, rebuild=True)
        time.sleep(0.5)
    finally:
        stop.set()
        loop.join()

    assert failures == []
    # The loop ran across the swap: the old index answered, then the new one, never nothing.
    assert served_by[0] == first.index and served_by[-1] == rebuilt.index
    assert rebuilt.index != first.index and rebuilt.swapped_from == first.index
    assert (rebuilt.embedded, rebuilt.copied) == (0, SLICE)  # vectors reused, not re-embedded
    assert aliases.current_index(os_client, index_name) == rebuilt.index
    assert os_client.indices.exists(index=first.index)  # kept until the next rebuild
    assert count(os_client, index_name) == SLICE

    again = ingest(os_client, catalog, index_name, encoder, rebuild=True)
    assert not os_client.indices.exists(index=first.index)
    assert os_client.indices.exists(index=rebuilt.index)
    assert again.swapped_from == rebuilt.index


def test_encoder_mismatch_is_refused(os_client, index_name, slice_dir, encoder) -> None:
    catalog = slice_dir / "catalog.csv"
    ingest(os_client, catalog, index_name, encoder)
    with pytest.raises(SyncError, match="built with encoder 'efficientnet-lite0'"):
        run_ingest(
            os_client,
            read_catalog(catalog),
            slice_dir,
            index_name,
            "clip:other-model",
            lambda: encoder,
        )


def test_second_run_is_locked_out(os_client, index_name, slice_dir, tmp_path) -> None:
    lock = tmp_path / "ingest.lock"
    env = {"VISEARCH_ENCODER": ENCODER, "VISEARCH_INDEX": index_name}
    args = ["ingest", str(slice_dir / "catalog.csv"), "--opensearch-url", _url(os_client)]
    with ingest_lock(lock):
        result = CliRunner().invoke(cli.main, [*args, "--lock-file", str(lock)], env=env)
    assert result.exit_code == cli.EXIT_LOCKED
    assert "another ingest is running" in result.output


def _url(client) -> str:  # noqa: ANN001
    host = client.transport.hosts[0]
    return f"http://{host['host']}:{host['port']}"
