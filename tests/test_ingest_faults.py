"""What goes wrong in a nightly job: a killed run, and a catalog full of bad records."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import bad_images
import pytest
from click.testing import CliRunner

from support import ENCODER, FASHION, count, fashion_rows, write_catalog
from visearch import cli
from visearch.commands.ingest import EXIT_ROW_FAILURES
from visearch.ingest import aliases
from visearch.ingest.lock import LOCK_INDEX

pytestmark = pytest.mark.slow


def test_killed_run_is_finished_by_the_rerun(os_client, index_name, opensearch_url, tmp_path):
    rows = fashion_rows(300)
    for row in rows:
        row["image"] = str(FASHION / row["image"])
    catalog = write_catalog(tmp_path / "catalog.csv", rows)
    env = {
        **os.environ,
        "OPENSEARCH_URL": opensearch_url,
        "VISEARCH_INDEX": index_name,
        "VISEARCH_ENCODER": ENCODER,
    }
    options = ["--bulk-chunk-size", "25", "--batch-size", "16", "--quiet"]
    options += ["--images-root", str(FASHION)]  # the photos are outside the catalog's folder
    options += ["--lock-ttl", "2"]  # the killed run's lock expires 2 s after its last renewal
    # The first run reads its catalog from a pipe that stays open: it writes what it has and
    # then waits for more, so it is certainly still running when it is killed.
    feed = tmp_path / "feed.csv"
    os.mkfifo(feed)
    command = [sys.executable, "-m", "visearch.cli", "ingest"]
    run = subprocess.Popen([*command, str(feed), *options], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    with feed.open("w") as pipe:
        pipe.write(catalog.read_text())
        pipe.flush()
        deadline = time.monotonic() + 120
        while run.poll() is None and time.monotonic() < deadline:
            if (
                os_client.indices.exists_alias(name=index_name)
                and count(os_client, index_name) >= 50
            ):
                break
            time.sleep(0.2)
        assert run.poll() is None, run.communicate()[0]
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert 50 <= count(os_client, index_name) < 300
    index = aliases.current_index(os_client, index_name)
    assert index is not None
    assert aliases.refresh_interval(os_client, index) == "-1"  # a build is loaded unrefreshed
    held = os_client.get(index=LOCK_INDEX, id=index_name)["_source"]  # the dead run's lock
    time.sleep(max(0.0, held["expires_epoch"] - time.time()) + 0.1)

    rerun = subprocess.run([*command, str(catalog), *options, "--json"], env=env,
                           capture_output=True, text=True)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["embedded"] + summary["unchanged"] == 300
    assert summary["unchanged"] >= 50  # what the killed run wrote is kept, not redone
    assert count(os_client, index_name) == 300
    assert aliases.refresh_interval(os_client, index) is None  # refreshed as usual again
    skus = os_client.search(
        index=index_name,
        body={"size": 0, "aggs": {"skus": {"cardinality": {"field": "sku"}}}},
    )
    assert skus["aggregations"]["skus"]["value"] == 300  # no duplicates


@pytest.fixture
def bad_catalog(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A catalog mixing good products with every kind of bad record.

    Returns the catalog and, for each bad sku, a word its reason must contain."""
    images = tmp_path / "images"
    images.mkdir()
    photo = FASHION / "images" / "10000.jpg"
    good = fashion_rows(6)
    for row in good:
        shutil.copy2(FASHION / row["image"], tmp_path / row["image"])

    bad_images.write_corrupt_jpeg(images / "corrupt.jpg")
    (images / "empty.jpg").write_bytes(b"")
    bad_images.write_1bit_png(images / "bomb.png", 20000, 20000)
    # Awkward but valid: these must be indexed.
    bad_images.write_png_with_alpha(photo, images / "alpha.png")
    bad_images.write_cmyk_jpeg(photo, images / "cmyk.jpg")
    bad_images.write_16bit_png(photo, images / "sixteen.png")
    bad_images.write_exif_rotated(photo, images / "rotated.jpg")

    fields = list(good[0])
    base = {name: good[0][name] for name in fields}

    def row(sku: str, image: str, title: str = "Bad record") -> dict[str, str]:
        return {**base, "sku": sku, "image": image, "title": title}

    rows = [
        *good,
        row("b-alpha", "images/alpha.png", "Alpha png"),
        row("b-cmyk", "images/cmyk.jpg", "Cmyk jpeg"),
        row("b-16bit", "images/sixteen.png", "Sixteen bit"),
        row("b-rotated", "images/rotated.jpg", "Rotated exif"),
        row("b-empty-title", "images/alpha.png", ""),
        row("b-unicode", "images/cmyk.jpg", "Ünïcödé 靴 👟 boots"),
        row("x-corrupt", "images/corrupt.jpg"),
        row("x-zero", "images/empty.jpg"),
        row("x-missing", "images/nope.jpg"),
        row("x-bomb", "images/bomb.png"),
        row("x-url", "http://127.0.0.1:9/unreachable.jpg"),
        row(good[0]["sku"], good[1]["image"], "Duplicate of the first row"),
    ]
    catalog = tmp_path / "catalog.csv"
    with catalog.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        handle.write('x-malformed,"images/alpha.png,unclosed quote\n')
    expected_failures = {
        "x-corrupt": "cannot decode",
        "x-zero": "empty file",
        "x-missing": "not found",
        "x-bomb": "decompression bomb",
        "x-url": "unreachable",
        good[0]["sku"]: "duplicate",
    }
    return catalog, expected_failures


def test_bad_records_are_reported_and_good_ones_searchable(
    os_client, index_name, opensearch_url, bad_catalog, tmp_path
) -> None:
    catalog, expected = bad_catalog
    report = tmp_path / "report.jsonl"
    env = {"VISEARCH_ENCODER": ENCODER, "VISEARCH_INDEX": index_name}
    args = ["ingest", str(catalog), "--opensearch-url", opensearch_url, "--json"]
    result = CliRunner().invoke(cli.main, [*args, "--report", str(report)], env=env)
    assert result.exit_code == EXIT_ROW_FAILURES, result.output
    summary = json.loads(result.stdout)

    errors = [json.loads(line) for line in report.read_text().splitlines()]
    by_sku = {error["sku"]: error for error in errors}
    for sku, word in expected.items():
        assert word in by_sku[sku]["reason"].lower(), by_sku[sku]
    malformed = [error for error in errors if error["stage"] == "read"]
    assert len(malformed) == 1 and malformed[0]["line"] == 20
    assert summary["failed"] == len(errors) == len(expected) + 1
    assert summary["embedded"] == 12

    os_client.indices.refresh(index=index_name)
    indexed = {hit["_id"] for hit in os_client.search(index=index_name, size=50)["hits"]["hits"]}
    good = {row["sku"] for row in fashion_rows(6)}
    awkward = {"b-alpha", "b-cmyk", "b-16bit", "b-rotated", "b-empty-title", "b-unicode"}
    assert indexed == good | awkward
    unicode_hit = os_client.search(index=index_name, body={"query": {"match": {"title": "靴"}}})
    assert [hit["_id"] for hit in unicode_hit["hits"]["hits"]] == ["b-unicode"]
