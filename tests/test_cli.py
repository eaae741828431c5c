"""The command line: help everywhere, search output for people and for machines."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from support import FASHION, RUN_PREFIX, fashion_rows, ingest, write_catalog
from visearch import cli
from visearch.commands.ingest import EXIT_FATAL, parse_mapping


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if isinstance(command, click.Group):
            found += _commands(command, path)
        else:
            found.append(path)
    return found


@pytest.mark.parametrize("path", _commands(cli.main), ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli.main, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output


@pytest.fixture(scope="module")
def small_index(os_client, encoder, tmp_path_factory) -> str:  # noqa: ANN001
    rows = fashion_rows(40)
    catalog = write_catalog(tmp_path_factory.mktemp("cli") / "catalog.csv", rows)
    alias = f"{RUN_PREFIX}-cli"
    summary = ingest(os_client, catalog, alias, encoder, images_dir=FASHION)
    assert summary.failed == 0
    return alias


def _search(opensearch_url: str, alias: str, *args: str) -> click.testing.Result:
    env = {"OPENSEARCH_URL": opensearch_url, "VISEARCH_INDEX": alias}
    return CliRunner().invoke(cli.main, ["search", *args], env=env)


@pytest.mark.slow
def test_search_json_uses_the_index_encoder(opensearch_url, small_index) -> None:
    photo = str(FASHION / "images" / "10003.jpg")
    result = _search(
        opensearch_url, small_index, "--image", photo, "--facet", "gender", "--k", "5", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "vector" and data["hits"][0]["sku"] == "10003"
    assert sum(v["count"] for v in data["facets"]["gender"]) == data["total"]


@pytest.mark.slow
def test_search_table_and_filters(opensearch_url, small_index) -> None:
    result = _search(
        opensearch_url, small_index, "--filter", "colour_group=Blue", "--filter",
        "colour_group=White", "--facet", "colour_group",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "browse search" in result.output
    assert "*Blue (" in result.output and "*White (" in result.output


@pytest.mark.slow
def test_search_errors_are_clear(opensearch_url, small_index) -> None:
    unknown = _search(opensearch_url, small_index, "--filter", "color=Blue")
    assert unknown.exit_code == 1
    assert "color" in unknown.output and "colour_group" in unknown.output  # lists valid fields
    malformed = _search(opensearch_url, small_index, "--filter", "colour")
    assert malformed.exit_code == 2 and "FIELD=VALUE" in malformed.output
    text = _search(opensearch_url, small_index, "--text", "red shoes")
    assert text.exit_code == 1 and "text" in text.output.lower()


@pytest.mark.parametrize(
    ("name", "text", "flags", "hint"),
    [
        ("catalog.csv", "name,picture\nx,y.jpg\n", [], "pass --map sku=<column>"),
        ("catalog.csv", "sku,picture\nx,y.jpg\n", [], "pass --map image=<column>"),
        ("catalog.xlsx", "sku,image\nx,y.jpg\n", [], "pass --format csv|tsv|jsonl"),
        ("catalog.csv", "sku,image\nx,y.jpg\n", ["--map", "colour=Tint"], "check --map colour="),
        ("catalog.csv", "sku,image,Colour,colour\nx,y,r,g\n", [], "pass --map colour=<column>"),
        ("catalog.csv", "sku,image,颜色\nx,y,r\n", [], "pass --map <field>=颜色"),
    ],
)
def test_ingest_says_how_to_fix_an_unusable_catalog(
    tmp_path: Path, name: str, text: str, flags: list[str], hint: str
) -> None:
    catalog = tmp_path / name
    catalog.write_text(text)
    result = CliRunner().invoke(cli.main, ["ingest", str(catalog), *flags])
    assert result.exit_code == EXIT_FATAL, result.output
    assert hint in result.output


def test_map_flags() -> None:
    specs = (" colour = baseColour ", "brand=brand_guess", "material=Material = Type")
    assert parse_mapping(specs + ("brand=brand_guess",)) == {
        "colour": "baseColour",
        "brand": "brand_guess",
        "material": "Material = Type",
    }
    for bad in (("colour",), ("=x",), ("colour=",), ("colour=a", "colour=b")):
        with pytest.raises(click.BadParameter):
            parse_mapping(bad)
