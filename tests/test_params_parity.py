"""One definition of every search parameter: the library, the CLI and the HTTP schema accept
the same set, and the same values mean the same search in each."""

from __future__ import annotations

import dataclasses

import click
import pytest

from visearch.commands.options import json_option, settings_options
from visearch.commands.search import params_from_options, search_command
from visearch.plugin.params import Boosts, SearchParams
from visearch.web.schemas import HTTP_NAMES, BoostsIn, SearchRequest
from visearch.web.service import to_params


def _shared_options() -> set[str]:
    """Options every command shares (where, which index, encoder and runtime, output): read
    from the shared decorators, so a new shared option is never mistaken for a parameter."""

    @click.command()
    @settings_options
    @json_option("the results")
    def shared(**_: object) -> None: ...

    return {str(p.name) for p in shared.params if isinstance(p, click.Option)}


NOT_SEARCH = _shared_options()


def library() -> set[str]:
    names = {item.name for item in dataclasses.fields(SearchParams)} - {"boosts"}
    return names | {item.name for item in dataclasses.fields(Boosts)}


def cli() -> set[str]:
    options = {param.name for param in search_command.params if isinstance(param, click.Option)}
    return {str(name) for name in options} - NOT_SEARCH


def http() -> set[str]:
    back = {wire: name for name, wire in HTTP_NAMES.items()}
    names = {back.get(name, name) for name in SearchRequest.model_fields} - {"boosts"}
    return names | set(BoostsIn.model_fields)


def test_library_cli_and_http_accept_the_same_parameters() -> None:
    assert cli() == library()
    assert http() == library()


def test_a_parameter_added_to_the_library_alone_would_be_caught() -> None:
    extended = library() | {"new_parameter"}
    assert extended != cli() and extended != http()


CASES = [
    {"keywords": "red boots", "k": 5, "page": 1, "facets": ("brand", "gender")},
    {"image": "shoe.jpg", "filters": {"colour": ("Red", "Blue")}, "price_max": 50.0},
    {"similar_to": "10003", "in_stock": False, "facet_size": 7, "candidates": 300},
    {"text": "a red dress", "image_weight": 0.5, "min_score": 0.2},
    {"keywords": "x", "boosts": Boosts(in_stock_first=True, popularity_weight=0.3)},
    {"filters": {"colour_group": ("Blue",)}, "predicted": False},
    {"image": "shoe.jpg", "boosts": Boosts(detected_weight=0.05)},
]


@pytest.mark.parametrize("case", CASES)
def test_the_same_values_mean_the_same_search(case: dict) -> None:
    expected = SearchParams(**case)
    assert _from_cli(case) == expected
    assert _from_http(case) == expected


def _from_cli(case: dict) -> SearchParams:
    """What `visearch search` builds from the command line spelling `case`."""
    args: list[str] = []
    for name, value in case.items():
        if name == "filters":
            args += [arg for k, vs in value.items() for v in vs for arg in ("--filter", f"{k}={v}")]
        elif name == "facets":
            args += [arg for facet in value for arg in ("--facet", facet)]
        elif name == "in_stock":
            args.append("--in-stock" if value else "--no-in-stock")
        elif name == "predicted":
            args.append("--predicted" if value else "--no-predicted")
        elif name == "boosts":
            args += ["--popularity-weight", str(value.popularity_weight)]
            args += ["--detected-weight", str(value.detected_weight)]
            args += ["--in-stock-first"] if value.in_stock_first else []
        else:
            args += [f"--{name.replace('_', '-')}", str(value)]
    context = search_command.make_context("search", args)
    return params_from_options({k: v for k, v in context.params.items() if k not in NOT_SEARCH})


def _from_http(case: dict) -> SearchParams:
    """What POST /v1/search builds from a JSON body spelling `case`."""
    body = {k: v for k, v in case.items() if k not in ("image", "boosts")}
    body = {k: list(v) if isinstance(v, tuple) else v for k, v in body.items()}
    if "filters" in body:
        body["filters"] = {k: list(v) for k, v in case["filters"].items()}
    if "boosts" in case:
        body["boosts"] = dataclasses.asdict(case["boosts"])
    return to_params(SearchRequest.model_validate(body), case.get("image"))
