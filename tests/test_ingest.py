"""The nightly ingest against the real node, on a 300-product slice of the fashion catalog."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image, ImageOps

from support import ENCODER, FASHION, count, fashion_rows, ingest, write_catalog
from visearch import cli
from visearch.commands.ingest import EXIT_DELETE_REFUSED, EXIT_LOCKED
from visearch.ingest import aliases, pipeline, prepare
from visearch.ingest.bulk import BulkConfig
from visearch.ingest.catalog import CatalogSource
from visearch.ingest.errors import EncoderMismatchError
from visearch.ingest.lock import cluster_lock
from visearch.ingest.pipeline import IngestOptions, run_ingest
from visearch.ingest.prepare import WORKER_NICENESS
from visearch.vectors.load import image_fitter

SLICE = 300

pytestmark = pytest.mark.slow


@pytest.fixture
def slice_dir(tmp_path: Path) -> Path:
    """300 products whose photos are copies we may change."""
    rows = fashion_rows(SLICE)
    (tmp_path / "images").mkdir()
    for row in rows:
        shutil.copy2(FASHION / row["image"], tmp_path / row["image"])
    write_catalog(tmp_path / "catalog.csv", rows)
    return tmp_path


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


def test_dry_run_plans_and_writes_nothing(os_client, index_name, slice_dir, encoder) -> None:
    catalog = slice_dir / "catalog.csv"
    untouched = index_name + "-never"

    def no_model() -> object:
        raise AssertionError("a dry run must not load the encoder")

    source = CatalogSource(catalog)
    new = run_ingest(os_client, source, untouched, ENCODER, no_model, IngestOptions(dry_run=True))
    assert (new.dry_run, new.read, new.embedded, new.failed) == (True, SLICE, SLICE, 0)
    assert os_client.indices.get(index=f"{untouched}*") == {}  # nothing was created

    first = ingest(os_client, catalog, index_name, encoder)
    rows = fashion_rows(SLICE)
    for row in rows[:5]:
        row["title"] = f"Zanzibar {row['title']}"
    for row in rows[10:13]:
        image = slice_dir / row["image"]
        ImageOps.mirror(Image.open(image)).save(image, "JPEG", quality=85)
    write_catalog(catalog, rows[:-7])
    planned = run_ingest(
        os_client, source, index_name, ENCODER, no_model, IngestOptions(dry_run=True)
    )
    counts = ("embedded", "updated", "unchanged", "deleted", "read")
    assert {name: getattr(planned, name) for name in counts} == {
        "embedded": 3, "updated": 5, "unchanged": SLICE - 7 - 8, "deleted": 7, "read": SLICE - 7,
    }  # fmt: skip
    assert planned.index == first.index and set(planned.stage_seconds) >= {"read", "load_state"}
    assert count(os_client, index_name) == SLICE  # nothing deleted
    found = os_client.search(index=index_name, body={"query": {"match": {"title": "zanzibar"}}})
    assert found["hits"]["total"]["value"] == 0  # nothing updated
    real = ingest(os_client, catalog, index_name, encoder)
    assert {name: getattr(real, name) for name in counts} == {
        name: getattr(planned, name) for name in counts
    }  # the plan was what the real run did


def test_mass_delete_is_refused_unless_forced(
    os_client, opensearch_url, index_name, slice_dir, encoder
) -> None:
    catalog = slice_dir / "catalog.csv"
    ingest(os_client, catalog, index_name, encoder)
    rows = fashion_rows(SLICE)
    write_catalog(catalog, rows[:100])  # looks like a truncated export

    runner = CliRunner()
    env = {"VISEARCH_ENCODER": ENCODER, "VISEARCH_INDEX": index_name}
    url = ["--opensearch-url", opensearch_url]
    result = runner.invoke(cli.main, ["ingest", str(catalog), *url, "--json"], env=env)
    assert result.exit_code == EXIT_DELETE_REFUSED, result.output
    refused = json.loads(result.stdout)["deletions_refused"]
    assert refused == {"reason": "too_many", "deletes": 200, "stored": 300, "max_fraction": 0.2}
    assert count(os_client, index_name) == SLICE
    told = runner.invoke(cli.main, ["ingest", str(catalog), *url], env=env)
    assert told.exit_code == EXIT_DELETE_REFUSED
    assert "refusing to delete 200 of 300" in told.output and "--force-delete" in told.output

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
        # Awaited, not slept: the loop answers from the new index once the swap is visible.
        deadline = time.monotonic() + 30
        while served_by[-1] != rebuilt.index and not failures and time.monotonic() < deadline:
            time.sleep(0.01)
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


def test_new_index_serves_from_one_segment(os_client, index_name, tmp_path, encoder) -> None:
    """With `merge`, a build or rebuild is force-merged before the alias points at it (fewer
    HNSW graphs for every kNN query to walk); by default the segments stay as written."""
    catalog = write_catalog(tmp_path / "catalog.csv", fashion_rows(12))

    def refresh_often(_: int) -> None:  # a segment for every few documents written
        os_client.indices.refresh(index=f"{index_name}*-v*")

    split = {"batch_size": 4, "bulk": BulkConfig(chunk_size=4, queue_chunks=1),
             "progress": refresh_often, "images_dir": FASHION}  # fmt: skip
    unmerged = ingest(os_client, catalog, index_name, encoder, **split)
    assert _segments(os_client, unmerged.index) > 1 and "merge" not in unmerged.stage_seconds
    merged = ingest(os_client, catalog, f"{index_name}-merged", encoder, merge=True, **split)
    assert _segments(os_client, merged.index) == 1 and "merge" in merged.stage_seconds
    assert count(os_client, f"{index_name}-merged") == 12
    rebuilt = ingest(
        os_client, catalog, index_name, encoder, rebuild=True, merge=True, images_dir=FASHION
    )
    assert _segments(os_client, rebuilt.index) == 1 and rebuilt.embedded == 0


def test_a_build_is_loaded_unrefreshed_then_serves_like_any_index(
    os_client, index_name, tmp_path, encoder
) -> None:
    """A new index takes its documents without refreshes (a few large segments, not one a
    second), and is refreshed as usual once built."""
    catalog = write_catalog(tmp_path / "catalog.csv", fashion_rows(40))
    during: list[tuple[str | None, int]] = []

    def look(_: int) -> None:
        if not during:
            (index,) = os_client.indices.get(index=f"{index_name}-v*")
            during.append((aliases.refresh_interval(os_client, index), _segments(os_client, index)))

    built = ingest(os_client, catalog, index_name, encoder, progress=look, images_dir=FASHION)
    assert during == [("-1", 0)]
    assert aliases.refresh_interval(os_client, built.index) is None  # the engine's default again
    assert _segments(os_client, built.index) == 1
    assert os_client.count(index=index_name)["count"] == 40


def _segments(client: Any, index: str) -> int:
    """Searchable segments of `index`'s primary shards."""
    rows = client.cat.segments(index=index, format="json")
    return sum(1 for row in rows if row.get("prirep") == "p" and row.get("searchable") == "true")


def test_encoder_mismatch_is_refused(os_client, index_name, slice_dir, encoder) -> None:
    catalog = slice_dir / "catalog.csv"
    ingest(os_client, catalog, index_name, encoder)
    with pytest.raises(EncoderMismatchError, match="built with encoder 'efficientnet-lite0'"):
        run_ingest(os_client, CatalogSource(catalog), index_name, "clip:other", lambda: encoder)


def test_second_run_is_locked_out(os_client, opensearch_url, index_name, slice_dir) -> None:
    env = {"VISEARCH_ENCODER": ENCODER, "VISEARCH_INDEX": index_name}
    args = ["ingest", str(slice_dir / "catalog.csv"), "--opensearch-url", opensearch_url]
    with cluster_lock(os_client, index_name):
        result = CliRunner().invoke(cli.main, args, env=env)
    assert result.exit_code == EXIT_LOCKED
    assert "another ingest into" in result.output and "is running" in result.output


def test_a_failed_model_batch_fails_only_its_products(
    os_client, index_name, tmp_path, encoder
) -> None:
    """A batch the model fails on is reported per product (the other batches are indexed)
    and the next run embeds just those products."""
    rows = fashion_rows(12)
    catalog = write_catalog(tmp_path / "catalog.csv", rows)
    doomed = rows[5]["sku"]

    class FailsOnce:
        name, dim, supports_text = encoder.name, encoder.dim, False
        calls = 0

        def embed_images(self, images: list[Any]) -> Any:
            FailsOnce.calls += 1
            if FailsOnce.calls == 2:  # the batch holding products 5 to 8
                raise RuntimeError("out of memory")
            return encoder.embed_images(images)

    source = CatalogSource(catalog, images_dir=FASHION)
    options = IngestOptions(batch_size=4)
    first = run_ingest(os_client, source, index_name, encoder.name, FailsOnce, options)
    failed = {e.sku for e in first.errors if "encoder failed on this batch" in e.reason}
    assert doomed in failed and len(failed) == 4 and first.embedded == 8
    assert count(os_client, index_name) == 8
    second = run_ingest(os_client, source, index_name, encoder.name, FailsOnce, options)
    assert (second.embedded, second.unchanged, second.failed) == (4, 8, 0)
    assert count(os_client, index_name) == 12


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread niceness is Linux's")
def test_decode_threads_yield_the_cores_to_the_model(
    os_client, index_name, tmp_path, encoder, monkeypatch
) -> None:
    """The photo work beside the model runs at a lower priority than the model's thread,
    which is the pipeline's bottleneck; the process itself keeps its priority."""
    catalog = write_catalog(tmp_path / "catalog.csv", fashion_rows(40))

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    decoding: set[int] = set()
    embedding: set[int] = set()

    def recording_fitter(name: str) -> Any:
        fit = image_fitter(name)
        return lambda image: decoding.add(niceness()) or fit(image)

    class Recording:
        name, dim, supports_text = encoder.name, encoder.dim, False

        def embed_images(self, images: list[Any]) -> Any:
            embedding.add(niceness())
            return encoder.embed_images(images)

    monkeypatch.setattr(pipeline, "image_fitter", recording_fitter)
    before = niceness()
    source = CatalogSource(catalog, images_dir=FASHION)
    summary = run_ingest(os_client, source, index_name, encoder.name, Recording, IngestOptions())
    assert summary.embedded == 40
    assert decoding == {min(before + WORKER_NICENESS, 19)}
    assert embedding == {before} and niceness() == before


def test_a_photo_the_pipeline_cannot_process_costs_only_its_own_product(
    os_client, index_name, tmp_path, encoder, monkeypatch
) -> None:
    """Colour features or the model's crop failing on one photo: that product is stored
    without colour features, or failed with its reason; the rest of its chunk goes on."""
    rows = fashion_rows(20)
    odd, broken = rows[3], rows[9]
    (tmp_path / "images").mkdir()
    for row, size in ((odd, (97, 131)), (broken, (83, 111))):
        with Image.open(FASHION / row["image"]) as photo:
            photo.resize(size).save(tmp_path / "images" / f"{row['sku']}-resized.jpg")
        row["image"] = f"images/{row['sku']}-resized.jpg"
    for row in rows:
        if not (tmp_path / row["image"]).exists():
            shutil.copy2(FASHION / row["image"], tmp_path / row["image"])
    catalog = write_catalog(tmp_path / "catalog.csv", rows)
    features = prepare.colour_features_batch

    def colours_failing_on_odd(images: list[Any]) -> Any:
        if any(image.size == (97, 131) for image in images):
            raise ValueError("odd photo")
        return features(images)

    def fitter(name: str) -> Any:
        fit = image_fitter(name)
        return lambda image: fit(image) if image.size != (83, 111) else 1 / 0

    monkeypatch.setattr(prepare, "colour_features_batch", colours_failing_on_odd)
    monkeypatch.setattr(pipeline, "image_fitter", fitter)
    summary = ingest(os_client, catalog, index_name, encoder)
    assert (summary.embedded, summary.failed) == (19, 1)
    (error,) = summary.errors
    assert error.sku == broken["sku"] and "cannot fit the photo" in error.reason
    for row in rows:
        if row is broken:
            continue
        photo = os_client.get(index=index_name, id=row["sku"])["_source"]["photos"][0]
        assert ("colour_features" in photo) == (row is not odd), row["sku"]
