"""What a newcomer trips over on the command line: reasons, fix-it errors, readable output.

Each message's advice is followed here, to show it works."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from support import ENCODER, FASHION, RUN_PREFIX, fashion_rows, ingest, write_catalog
from visearch import cli

pytestmark = pytest.mark.slow


def invoke(*args: str, **env: str):  # noqa: ANN201 - click's Result
    return CliRunner().invoke(cli.main, list(args), env=env)


@pytest.fixture(scope="module")
def small(os_client, encoder, tmp_path_factory) -> str:  # noqa: ANN001
    folder = tmp_path_factory.mktemp("newcomer")
    catalog = write_catalog(folder / "catalog.csv", fashion_rows(30))
    alias = f"{RUN_PREFIX}-newcomer"
    assert ingest(os_client, catalog, alias, encoder, images_dir=FASHION).failed == 0
    return alias


def test_ingest_names_its_failure_reasons(tmp_path: Path, opensearch_url, index_name) -> None:
    rows = fashion_rows(22)
    (tmp_path / "images").mkdir()
    for row in rows[:2]:
        shutil.copy2(FASHION / row["image"], tmp_path / row["image"])
    catalog = write_catalog(tmp_path / "catalog.csv", rows)  # 20 photos are not there
    env = {"OPENSEARCH_URL": opensearch_url, "VISEARCH_ENCODER": ENCODER}
    result = invoke("ingest", str(catalog), "--index", index_name, **env)
    assert result.exit_code == 1
    assert "20 x image: file not found" in result.output
    assert f"(e.g. line 4, sku {rows[2]['sku']})" in result.output
    data = json.loads(invoke("ingest", str(catalog), "--index", index_name, "--json", **env).stdout)
    [top] = data["top_failures"]
    assert (top["count"], top["example"]["sku"]) == (20, rows[2]["sku"])


def test_a_rerun_uses_the_index_encoder(opensearch_url, small, tmp_path: Path) -> None:
    rows = [{**row, "image": str(FASHION / row["image"])} for row in fashion_rows(30)]
    catalog = write_catalog(tmp_path / "catalog.csv", rows)
    args = ("ingest", str(catalog), "--index", small, "--images-root", str(FASHION))
    rerun = invoke(*args, "--json", OPENSEARCH_URL=opensearch_url)  # no encoder given
    assert rerun.exit_code == 0, rerun.output
    summary = json.loads(rerun.stdout)  # the image paths are spelled differently: updates
    assert (summary["embedded"], summary["updated"] + summary["unchanged"]) == (0, 30)
    other = invoke(*args, "--encoder", "clip:other", OPENSEARCH_URL=opensearch_url)
    assert other.exit_code == 5 and f"Rerun with --encoder {ENCODER}" in other.output


def test_opensearch_down_says_how_to_start_it() -> None:
    result = invoke("search", "--keywords", "shoe", OPENSEARCH_URL="http://127.0.0.1:1")
    assert result.exit_code == 1
    assert "cannot reach OpenSearch at http://127.0.0.1:1" in result.output
    assert "visearch opensearch up" in result.output
    assert result.output.count("http://127.0.0.1:1") == 1  # said once, no nested reprs
    assert "NewConnectionError" not in result.output


def test_a_mistyped_index_gets_a_did_you_mean(opensearch_url, small) -> None:
    typo = small[:-3] + small[-2:]
    result = invoke("search", "--keywords", "shoe", "--index", typo, OPENSEARCH_URL=opensearch_url)
    assert result.exit_code == 1
    assert f"did you mean {small!r}?" in result.output and "Aliases there:" in result.output


def test_search_output_reads_well(opensearch_url, small, search_alias) -> None:
    photo = str(FASHION / "images" / "10003.jpg")
    env = {"OPENSEARCH_URL": opensearch_url}
    shown = invoke("search", "--index", small, "--image", photo, "--facet", "article_type",
                   "--facet-size", "20", "--k", "3", **env)  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "vector search: top 30 by look" in shown.output
    assert "loading the encoder" in shown.stderr
    colours = invoke("search", "--index", search_alias, "--facet", "colour", "--json", **env)
    counted = len(json.loads(colours.stdout)["facets"]["colour"])
    assert counted > 12  # the 300-product index has more colours than a line shows
    listed = invoke("search", "--index", search_alias, "--facet", "colour", **env)
    assert f"+{counted - 12} more (--facet-size)" in listed.output
    quiet = invoke("search", "--index", small, "--image", photo, "--json", **env)
    assert json.loads(quiet.stdout)["mode"] == "vector" and quiet.stderr == ""


def test_help_summaries_are_whole_sentences() -> None:
    listing = invoke("--help").output
    commands = listing.split("Commands:")[1].strip().splitlines()
    assert len(commands) == len(cli.main.commands)  # one line each, none cut short
    assert not [line for line in commands if line.rstrip().endswith("...")]
