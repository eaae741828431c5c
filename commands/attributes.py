"""`visearch attributes ...`: learn attributes from photos, see what is missing or doubtful,
and correct values so that every later ingest keeps the correction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from visearch.commands.options import (
    Settings,
    emit,
    json_option,
    quiet_model_loading,
    settings_options,
)

DEFAULTS = "category,subcategory,article_type,colour_group,gender,usage,season"


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def _run(settings: Settings, call: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """`call(client)`, with library errors turned into fix-it messages."""
    from opensearchpy import NotFoundError

    from visearch.attributes.errors import AttributeError_
    from visearch.commands.messages import fix_it

    try:
        return call(settings.client(timeout_s=120))
    except AttributeError_ as error:
        raise click.ClickException(str(error)) from None
    except NotFoundError:
        raise click.ClickException(
            f"no index {settings.index!r}: ingest a catalog first, or pass --index"
        ) from None
    except (ValueError, OSError) as error:
        raise click.ClickException(fix_it(error, settings)) from error


@click.group("attributes", short_help="Attributes from photos: train, review, correct.")
def attributes_group() -> None:
    """Attributes from photos: fill what the catalog lacks, flag what it gets wrong, and keep
    merchandisers' corrections across ingests."""


@attributes_group.command("train", short_help="Learn attribute models from the catalog.")
@settings_options
@click.option(
    "--attributes",
    "names",
    default=DEFAULTS,
    show_default=True,
    help="Comma-separated keyword attributes to learn.",
)
@click.option(
    "--zero-shot",
    "zero_shot",
    multiple=True,
    metavar="ATTRIBUTE[=V1,V2,...]",
    help="CLIP indices: predict ATTRIBUTE from its value names (given, else the catalog's) "
    "instead of learning it; repeat for several. Alone, only these are done.",
)
@json_option("what was learned")
def train_command(
    settings: Settings, names: str, zero_shot: tuple[str, ...], as_json: bool
) -> None:
    """Learn one model per attribute from the index's labelled products (stored vectors and
    colour features), store it in the cluster and write every product's predictions.

    \b
    Example:
      visearch attributes train --attributes article_type,colour_group
      visearch attributes train --zero-shot pattern=striped,plain,checked
    """
    from visearch.attributes.service import train_alias

    if not zero_shot:
        data = _run(settings, lambda client: train_alias(client, settings.index, _names(names)))
        emit(data, as_json, _render_train)
        return
    wanted = _zero_shot_values(zero_shot)
    given = click.get_current_context().get_parameter_source("names")
    learned = [] if given is click.core.ParameterSource.DEFAULT else _names(names)
    learned = [name for name in learned if name not in wanted]
    data = _run(settings, lambda client: _zero_shot(settings, client, wanted))
    if learned:  # after the zero-shot checks: a mistake there leaves the trained models as is
        trained = _run(settings, lambda client: train_alias(client, settings.index, learned))
        data["models"] = {**trained["models"], **data["models"]}
    emit(data, as_json, _render_train)


def _zero_shot_values(specs: tuple[str, ...]) -> dict[str, list[str] | None]:
    """`pattern=striped,plain` -> {pattern: [striped, plain]}; `pattern` -> {pattern: None}
    (the catalog's values)."""
    wanted: dict[str, list[str] | None] = {}
    for spec in specs:
        name, equals, values = spec.partition("=")
        if not name.strip():
            raise click.BadParameter(f"{spec!r}: name an attribute", param_hint="--zero-shot")
        wanted[name.strip()] = [v.strip() for v in values.split(",")] if equals else None
    return wanted


def _zero_shot(
    settings: Settings, client: Any, wanted: dict[str, list[str] | None]
) -> dict[str, Any]:
    """Zero-shot models with the index's encoder (its text tower embeds the value names)."""
    from visearch.attributes.dataset import check_attributes
    from visearch.attributes.errors import ZeroShotError
    from visearch.attributes.service import index_encoder, zero_shot_alias
    from visearch.vectors.encoders import EncoderError
    from visearch.vectors.load import choose_spec

    check_attributes(client, settings.index, wanted)  # before any model loads
    quiet_model_loading()
    spec = choose_spec(index_encoder(client, settings.index), settings.encoder, None)
    if spec is None:
        raise ZeroShotError(f"index {settings.index!r} records no encoder")
    try:
        encoder = settings.encoder_loader()(spec)
    except EncoderError as error:
        raise click.ClickException(f"cannot load the encoder {spec!r}: {error}") from None
    return zero_shot_alias(client, settings.index, wanted, encoder)


def _render_train(data: dict[str, Any]) -> str:
    lines = [f"{data['alias']}: {data['products']} products, encoder {data['encoder']}"]
    for name, model in data["models"].items():
        if model.get("kind") == "zero-shot":
            lines.append(
                f"  {name:<14} {model['values']:>3} values  zero-shot from value names, "
                f"calibrated on {model['calibration_products']} labelled  {model['model']}"
            )
            continue
        accuracy = model.get("held_back_accuracy", "n/a")
        lines.append(
            f"  {name:<14} {model['values']:>3} values  held-back accuracy {accuracy}  "
            f"ECE {model.get('held_back_ece', 'n/a')}  {model['model']}"
        )
    lines.append(f"predictions written: {data['predictions_written']}")
    return "\n".join(lines)


@attributes_group.command("coverage", short_help="Catalog / predicted / missing per attribute.")
@settings_options
@click.option("--attributes", "names", default=DEFAULTS, show_default=True)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="Confidence a prediction needs to fill a missing value (default 0.9).",
)
@json_option("the counts")
def coverage_command(
    settings: Settings, names: str, threshold: float | None, as_json: bool
) -> None:
    """How many products have each attribute from the catalog, from a confident prediction
    only, or not at all.

    \b
    Example:
      visearch attributes coverage --attributes colour_group,usage
    """
    from visearch.attributes.predict import FILL_THRESHOLD
    from visearch.attributes.service import coverage

    limit = FILL_THRESHOLD if threshold is None else threshold
    data = _run(settings, lambda client: coverage(client, settings.index, _names(names), limit))
    emit(data, as_json, _render_coverage)


def _render_coverage(data: dict[str, Any]) -> str:
    lines = [
        f"{data['alias']}: {data['products']} products (fill at >= {data['threshold']})",
        f"  {'attribute':<14} {'catalog':>8} {'predicted':>9} {'missing':>8}",
    ]
    for name, row in data["attributes"].items():
        lines.append(f"  {name:<14} {row['catalog']:>8} {row['predicted']:>9} {row['missing']:>8}")
    return "\n".join(lines)


@attributes_group.command("review", short_help="Probable mislabels, most confident first.")
@settings_options
@click.option("--attributes", "names", default=DEFAULTS, show_default=True)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="Doubt of the catalog value needed to list it (default 0.95).",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option("the list")
def review_command(
    settings: Settings, names: str, threshold: float | None, limit: int, as_json: bool
) -> None:
    """Catalog values that a confident prediction disagrees with, most doubted first.

    \b
    Example:
      visearch attributes review --attributes article_type --limit 20
    """
    from visearch.attributes.predict import REVIEW_THRESHOLD
    from visearch.attributes.service import review

    bar = REVIEW_THRESHOLD if threshold is None else threshold
    data = _run(settings, lambda client: review(client, settings.index, _names(names), bar, limit))
    emit(data, as_json, _render_review)


def _render_review(data: dict[str, Any]) -> str:
    rows = data["mislabels"]
    lines = [f"{len(rows)} probable mislabels (doubt >= {data['threshold']})"]
    for row in rows:
        lines.append(
            f"  {row['sku']:<10} {row['attribute']:<14} catalog {row['catalog']!r} -> "
            f"photo says {row['predicted']!r} ({row['confidence']:.2f})  {row['image']}"
        )
    return "\n".join(lines)


@attributes_group.command("set", short_help="Correct one attribute of one product.")
@settings_options
@click.argument("sku")
@click.argument("attribute")
@click.argument("value")
@click.option("--by", default="cli", show_default=True, help="Who made the correction.")
@json_option("the correction")
def set_command(
    settings: Settings, sku: str, attribute: str, value: str, by: str, as_json: bool
) -> None:
    """Set ATTRIBUTE of product SKU to VALUE now, in search at once; every later ingest and
    rebuild keeps it until the catalog's own value changes or it is reverted.

    \b
    Example:
      visearch attributes set 10003 article_type Sweatshirts --by ana
    """
    from dataclasses import asdict

    from visearch.attributes.overrides import set_override

    data = _run(
        settings, lambda c: asdict(set_override(c, settings.index, sku, attribute, value, by))
    )
    emit(
        data,
        as_json,
        lambda d: f"{d['sku']} {d['attribute']}: {d['catalog']!r} -> {d['value']!r} (by {d['by']})",
    )


@attributes_group.command("revert", short_help="Undo a correction.")
@settings_options
@click.argument("sku")
@click.argument("attribute")
@click.option("--by", default="cli", show_default=True)
@json_option("the reverted correction")
def revert_command(settings: Settings, sku: str, attribute: str, by: str, as_json: bool) -> None:
    """Put the catalog's value of ATTRIBUTE of SKU back (the correction stays in the history).

    \b
    Example:
      visearch attributes revert 10003 article_type
    """
    from dataclasses import asdict

    from visearch.attributes.overrides import revert_override

    data = _run(settings, lambda c: asdict(revert_override(c, settings.index, sku, attribute, by)))
    emit(data, as_json, lambda d: f"{d['sku']} {d['attribute']}: back to {d['catalog']!r}")


@attributes_group.command("list", short_help="The corrections in force.")
@settings_options
@click.option("--all", "everything", is_flag=True, help="Reverted corrections too.")
@json_option("the corrections")
def list_command(settings: Settings, everything: bool, as_json: bool) -> None:
    """Every correction of the alias, newest first.

    \b
    Example:
      visearch attributes list --json
    """
    from dataclasses import asdict

    from visearch.attributes.overrides import list_overrides

    data = _run(
        settings,
        lambda c: {
            "overrides": [
                asdict(o) for o in list_overrides(c, settings.index, include_reverted=everything)
            ]
        },
    )
    emit(
        data,
        as_json,
        lambda d: (
            "\n".join(
                f"{o['at']}  {o['sku']:<10} {o['attribute']:<14} {o['catalog']!r} -> "
                f"{o['value']!r} by {o['by']} ({o['status']})"
                for o in d["overrides"]
            )
            or "no corrections"
        ),
    )
