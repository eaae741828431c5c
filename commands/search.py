"""`visearch search`: one option per search parameter, generated from `SearchParams`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from visearch.commands.options import (
    DEFAULT_ENCODER,
    Settings,
    emit,
    json_option,
    settings_options,
)
from visearch.commands.progress import note
from visearch.plugin.params import Boosts, ParamSpec, search_parameters

Command = Callable[..., Any]
_TYPES = {"number": float, "integer": int}


def _option(spec: ParamSpec) -> Callable[[Command], Command]:
    flag = f"--{spec.flag}"
    if spec.kind in ("image", "text"):
        return click.option(flag, spec.name, help=spec.help)
    if spec.kind in _TYPES:
        shown = spec.default is not None
        return click.option(flag, spec.name, type=_TYPES[spec.kind], default=spec.default,
                            show_default=shown, help=spec.help)  # fmt: skip
    if spec.kind == "tristate":
        return click.option(f"{flag}/--no-{spec.flag}", spec.name, default=None, help=spec.help)
    if spec.kind == "flag" and spec.default:  # on unless turned off
        return click.option(f"{flag}/--no-{spec.flag}", spec.name, default=True,
                            show_default=True, help=spec.help)  # fmt: skip
    if spec.kind == "flag":
        return click.option(flag, spec.name, is_flag=True, help=spec.help)
    if spec.kind == "filters":
        return click.option(flag, spec.name, multiple=True, metavar="FIELD=VALUE",
                            help=spec.help + " Repeatable.")  # fmt: skip
    if spec.kind == "names":
        return click.option(flag, spec.name, multiple=True, metavar="FIELD",
                            help=spec.help + " Repeatable.")  # fmt: skip
    raise ValueError(f"no CLI form for {spec.kind} parameters ({spec.name})")


def cli_parameters() -> tuple[ParamSpec, ...]:
    """The search parameters as the CLI has them: the boosts' own parameters in their place."""
    out: list[ParamSpec] = []
    for spec in search_parameters():
        out.extend(search_parameters(Boosts) if spec.kind == "boosts" else [spec])
    return tuple(out)


def search_options(command: Command) -> Command:
    """One click option per search parameter, in the library's order."""
    for spec in reversed(cli_parameters()):
        command = _option(spec)(command)
    return command


def parse_filters(specs: tuple[str, ...]) -> dict[str, list[str]]:
    """`colour=Blue --filter colour=Red` -> {"colour": ["Blue", "Red"]} (OR within a field)."""
    filters: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise click.BadParameter(f"{spec!r} is not FIELD=VALUE", param_hint="--filter")
        filters.setdefault(name.strip(), []).append(value.strip())
    return filters


def params_from_options(values: dict[str, Any]) -> Any:
    """SearchParams from the generated options' values."""
    from visearch.plugin.params import SearchParams

    boosts = {spec.name: values.pop(spec.name) for spec in search_parameters(Boosts)}
    values["filters"] = parse_filters(values["filters"])
    return SearchParams(boosts=Boosts(**boosts), **values)


FACET_VALUES_SHOWN = 12


def readable_scores(why: dict[str, Any]) -> tuple[str, str]:
    """(look, words) columns: cosine similarity to the photo or text ("=" marks the
    photographed product itself), and a tick when the product matches the words."""
    similarity = why.get("similarity")
    look = "" if similarity is None else f"{similarity:.2f}"
    if why.get("exact_match"):
        look = "=" + look
    match = why.get("keyword_match")
    return look, "" if match is None else ("yes" if match else "-")


def render(data: dict[str, Any]) -> str:
    hits = data["hits"]
    start = data["page"] * data["k"]
    if data["mode"] in ("vector", "hybrid"):  # a pool of the nearest, not a count of matches
        found = f"top {data['total']} by look"
    else:
        found = f"{data['total']} results"
    lines = [
        f"{data['mode']} search: {found}, showing {start + 1 if hits else 0}"
        f"-{start + len(hits)} ({data['timings']['total_ms']:.0f} ms)"
    ]
    detected = [f"{name} {g['value']} ({g['confidence']:.2f})"
                for name, g in (data.get("detected") or {}).items()]  # fmt: skip
    if detected:
        lines.append("detected: " + ", ".join(detected))
    lines.append(f"{'#':>3}  {'sku':<12} {'look':>5} {'words':>5}  {'price':>8}  title")
    for rank, hit in enumerate(hits, start=start + 1):
        look, words = readable_scores(hit["explanation"])
        price = "" if hit["price"] is None else f"{hit['price']:.2f}"
        lines.append(
            f"{rank:>3}  {hit['sku']:<12} {look:>5} {words:>5}  {price:>8}  {hit['title']}"
        )
    for notice in data.get("notices") or []:
        lines.append(f"note: {notice['message']}")
    for field, values in (data.get("facets") or {}).items():
        shown = ", ".join(
            f"{'*' if v['selected'] else ''}{v['value']} ({v['count']})"
            for v in values[:FACET_VALUES_SHOWN]
        )
        more = len(values) - FACET_VALUES_SHOWN
        lines.append(f"{field}: {shown}" + (f", +{more} more (--facet-size)" if more > 0 else ""))
    if data.get("price"):
        stats = data["price"]
        if stats.get("count"):
            lines.append(f"price: {stats['min']:.2f}-{stats['max']:.2f} over {stats['count']}")
    return "\n".join(lines)


@click.command("search", short_help="Search by photo, text, similar product, words.")
@settings_options
@search_options
@json_option("hits and facets")
def search_command(settings: Settings, as_json: bool, **values: Any) -> None:
    """Search the catalog by photo, text-to-image, similar product, keywords and filters, with
    facets.

    Without --encoder or VISEARCH_ENCODER, queries use the encoder the index was built with.

    \b
    Example:
      visearch search --image ../shared/data/fashion/images/10000.jpg \\
          --keywords skirt --filter colour_group=White --facet article_type --k 10
    """
    from visearch.commands.messages import fix_it
    from visearch.plugin.errors import SearchError
    from visearch.plugin.search import open_searcher
    from visearch.vectors.encoders import EncoderError

    try:
        params = params_from_options(values)
        needs_model = params.image is not None or params.text is not None
        if needs_model and not as_json:
            note(f"loading the encoder of {settings.index!r} ...")
        searcher = open_searcher(
            settings.client(),
            settings.index,
            load_encoder=settings.encoder_loader() if needs_model else None,
            requested=settings.encoder,
            default=DEFAULT_ENCODER,
            reranker=settings.load_reranker() if needs_model else None,
        )
        result = searcher.search(params)
    except (ValueError, SearchError, EncoderError) as error:
        raise click.ClickException(fix_it(error, settings)) from error
    emit(result.as_dict(), as_json, render)
