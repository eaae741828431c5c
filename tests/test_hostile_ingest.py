"""What a careless operator or a hostile catalog did to ingest, each case fixed and held here:
one lock per cluster, a doubled alias repaired, catalogs that name files and hosts they must
not, bad bytes, a stopped cluster, hostile index names."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from support import (
    ENCODER,
    FASHION,
    copy_documents,
    count,
    fashion_rows,
    ingest,
    write_catalog,
)
from visearch import cli
from visearch.commands.ingest import EXIT_FATAL, EXIT_LOCKED, EXIT_ROW_FAILURES
from visearch.engine.names import InvalidIndexNameError
from visearch.ingest import aliases
from visearch.ingest.errors import SplitAliasError
from visearch.ingest.lock import LOCK_INDEX, ClusterLock, LockedError, cluster_lock

pytestmark = pytest.mark.slow


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """Six fashion products whose photos sit in the catalog's own folder."""
    rows = fashion_rows(6)
    (tmp_path / "images").mkdir()
    for row in rows:
        (tmp_path / row["image"]).write_bytes((FASHION / row["image"]).read_bytes())
    return write_catalog(tmp_path / "catalog.csv", rows)


def run_cli(url: str, alias: str, *args: str) -> tuple[int, str, str]:
    env = {"OPENSEARCH_URL": url, "VISEARCH_INDEX": alias, "VISEARCH_ENCODER": ENCODER}
    result = CliRunner().invoke(cli.main, ["ingest", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


# --------------------------------------------------------------------------- the lock


def test_two_spellings_of_the_cluster_share_one_lock(os_client, index_name, small, opensearch_url):
    other_spelling = opensearch_url.replace("127.0.0.1", "localhost")
    with cluster_lock(os_client, index_name):
        code, _, err = run_cli(other_spelling, index_name, str(small), "--quiet")
        assert code == EXIT_LOCKED, err
        assert "another ingest" in err and "held by" in err
    code, _, err = run_cli(other_spelling, index_name, str(small), "--quiet")
    assert code == 0, err
    assert not os_client.exists(index=LOCK_INDEX, id=index_name)  # released at the end


def test_a_killed_runs_lock_expires(os_client, index_name, small, opensearch_url) -> None:
    dead = ClusterLock(os_client, index_name, "killed-host:1234:x", ttl_s=0.5)
    dead.acquire()
    dead._stop.set()  # stop renewing without releasing: what a SIGKILL leaves behind
    with pytest.raises(LockedError, match="killed-host"):
        ClusterLock(os_client, index_name, "too-early", ttl_s=60).acquire()
    time.sleep(0.8)
    code, _, err = run_cli(opensearch_url, index_name, str(small), "--quiet")
    assert code == 0, err


def test_only_one_of_several_runs_takes_over_an_expired_lock(os_client, index_name) -> None:
    dead = ClusterLock(os_client, index_name, "dead", ttl_s=0.2)
    dead.acquire()
    dead._stop.set()
    time.sleep(0.4)
    contenders = [ClusterLock(os_client, index_name, f"run-{n}", ttl_s=60) for n in range(6)]
    won: list[str] = []
    start = threading.Barrier(len(contenders))

    def contend(lock: ClusterLock) -> None:
        start.wait()
        try:
            lock.acquire()
            won.append(lock.owner)
        except LockedError:
            pass

    threads = [threading.Thread(target=contend, args=(lock,)) for lock in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    for lock in contenders:
        lock.release()


# --------------------------------------------------------------------------- a doubled alias


def test_a_doubled_alias_is_refused_then_repaired_by_a_rebuild(
    os_client, index_name, small, opensearch_url, encoder
) -> None:
    first = ingest(os_client, small, index_name, encoder)
    twin = aliases.create_index(os_client, index_name)  # what two racing rebuilds left
    copy_documents(os_client, first.index, twin)
    os_client.indices.put_alias(index=twin, name=index_name)
    assert sorted(aliases.indices_of(os_client, index_name)) == sorted([first.index, twin])

    with pytest.raises(SplitAliasError):
        ingest(os_client, small, index_name, encoder)
    code, _, err = run_cli(opensearch_url, index_name, str(small), "--quiet")
    assert code == EXIT_FATAL and "several indices" in err and "--rebuild" in err

    code, out, err = run_cli(opensearch_url, index_name, str(small), "--rebuild", "--json")
    assert code == 0, err
    rebuilt = json.loads(out)
    assert aliases.indices_of(os_client, index_name) == [rebuilt["index"]]
    assert count(os_client, index_name) == 6  # every product once
    assert rebuilt["copied"] == 6 and rebuilt["embedded"] == 0  # vectors reused


# --------------------------------------------------------------------------- what rows may name


def test_a_catalog_reads_only_its_own_files(os_client, index_name, small, opensearch_url) -> None:
    folder = small.parent
    os.mkfifo(folder / "images" / "pipe.jpg")
    (folder / "images" / "escape.jpg").symlink_to("/etc/passwd")
    rows = fashion_rows(6)
    hostile = {
        "h-passwd": "/etc/passwd",
        "h-shadow": "../../../../../../etc/shadow",
        "h-missing": "/etc/no-such-file-here",
        "h-environ": "/proc/self/environ",
        "h-zero": "/dev/zero",
        "h-link": "images/escape.jpg",
        "h-fifo": "images/pipe.jpg",
        "h-file-url": "file:///etc/passwd",
    }
    rows += [{**rows[0], "sku": sku, "image": image} for sku, image in hostile.items()]
    write_catalog(small, rows)
    report = folder / "report.jsonl"
    started = time.monotonic()
    code, out, err = run_cli(opensearch_url, index_name, str(small), "--report", str(report))
    assert code == EXIT_ROW_FAILURES, err
    assert time.monotonic() - started < 60  # the FIFO did not hang the run
    reasons = {row["sku"]: row["reason"] for row in map(json.loads, report.open())}
    outside = "outside the folders images may be read from"
    for sku in ("h-passwd", "h-shadow", "h-missing", "h-environ", "h-zero", "h-link", "h-file-url"):
        assert outside in reasons[sku], reasons[sku]
    # The same words whether the file exists or not: the report leaks nothing.
    assert reasons["h-passwd"].split(": ", 1)[1] == reasons["h-missing"].split(": ", 1)[1]
    assert "not a regular file" in reasons["h-fifo"]
    assert count(os_client, index_name) == 6


def test_more_image_folders_are_opted_in(os_client, index_name, tmp_path, opensearch_url) -> None:
    rows = [{**row, "image": str(FASHION / row["image"])} for row in fashion_rows(3)]
    catalog = write_catalog(tmp_path / "catalog.csv", rows)
    report = tmp_path / "report.jsonl"
    code, _, err = run_cli(opensearch_url, index_name, str(catalog), "--report", str(report))
    assert code == EXIT_ROW_FAILURES, err
    assert all("outside the folders" in json.loads(line)["reason"] for line in report.open())
    code, _, err = run_cli(
        opensearch_url, index_name, str(catalog), "--quiet", "--images-root", str(FASHION)
    )
    assert code == 0, err
    assert count(os_client, index_name) == 3


def test_an_image_folder_reached_through_a_symlink_is_inside(
    os_client, index_name, tmp_path, opensearch_url
) -> None:
    """A data folder linked into place (common for mounted catalogs) is allowed by the name
    it was given; a symlink *out* of the allowed folders is still refused (test above)."""
    (tmp_path / "linked").symlink_to(FASHION)
    rows = [{**row, "image": str(tmp_path / "linked" / row["image"])} for row in fashion_rows(3)]
    catalog = write_catalog(tmp_path / "catalog.csv", rows)
    code, _, err = run_cli(
        opensearch_url, index_name, str(catalog), "--quiet", "--images-root",
        str(tmp_path / "linked"),
    )  # fmt: skip
    assert code == 0, err
    assert count(os_client, index_name) == 3


def test_image_urls_go_through_the_ssrf_guard(
    os_client, index_name, tmp_path, opensearch_url, loopback_http
) -> None:
    [row] = fashion_rows(1)
    loopback_http.files["/shoe.jpg"] = (FASHION / row["image"]).read_bytes()
    url = f"{loopback_http.base}/shoe.jpg"
    catalog = write_catalog(tmp_path / "catalog.csv", [{**row, "image": url}])
    report = tmp_path / "report.jsonl"
    code, _, err = run_cli(opensearch_url, index_name, str(catalog), "--report", str(report))
    assert code == EXIT_ROW_FAILURES, err
    [error] = map(json.loads, report.open())
    assert "loopback" in error["reason"]
    assert loopback_http.hosts == []  # refused before any request was sent
    host = f"127.0.0.1:{loopback_http.port}"
    code, _, err = run_cli(opensearch_url, index_name, str(catalog), "--allow-image-host", host)
    assert code == 0, err
    assert count(os_client, index_name) == 1


# --------------------------------------------------------------------------- bytes and clusters


def test_one_bad_byte_fails_only_its_line(os_client, index_name, small, opensearch_url) -> None:
    rows = fashion_rows(6)
    assert run_cli(opensearch_url, index_name, str(small), "--quiet")[0] == 0
    # One Latin-1 byte in the third product's title: that line is no longer UTF-8.
    small.write_bytes(small.read_bytes().replace(rows[2]["title"].encode(), b"Caf\xe9", 1))
    code, out, err = run_cli(opensearch_url, index_name, str(small), "--json")
    assert code == EXIT_ROW_FAILURES, err
    summary = json.loads(out)
    assert (summary["read"], summary["failed"], summary["unchanged"]) == (6, 1, 5)
    assert summary["deleted"] == 0 and count(os_client, index_name) == 6  # its product stays


def test_a_stopped_cluster_still_gets_a_summary_and_a_report(small, tmp_path) -> None:
    report, written = tmp_path / "report.jsonl", tmp_path / "summary.json"
    args = [str(small), "--json", "--report", str(report), "--summary", str(written)]
    code, out, err = run_cli("http://127.0.0.1:1", "products", *args)
    assert code == EXIT_FATAL
    summary = json.loads(out)
    assert "error" in summary and summary["alias"] == "products"
    assert report.exists() and json.loads(written.read_text())["error"] == summary["error"]
    assert "Error:" in err


@pytest.mark.parametrize("name", ["../../../tmp/x", "Products", "a b", "_x", "a:b", "x" * 300])
def test_index_names_are_checked_like_opensearch_does(name: str, small, os_client, encoder):
    code, _, err = run_cli("http://127.0.0.1:1", "products", str(small), "--index", name)
    assert code == 2 and "not a valid index name" in err
    with pytest.raises(InvalidIndexNameError):
        ingest(os_client, small, name, encoder)
