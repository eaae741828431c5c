"""Configuration in one place: environment variables give the defaults, flags override them,
and every command gets plain values. The shared options are decorators defined once here.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

DEFAULT_URL = "http://127.0.0.1:9200"
DEFAULT_INDEX = "products"
DEFAULT_ENCODER = "clip:clip-ViT-B-32"

Command = Callable[..., Any]


def env_opensearch_url() -> str:
    """OPENSEARCH_URL, or the default: for scripts (bench/) that take the same setting."""
    return os.environ.get("OPENSEARCH_URL", DEFAULT_URL)


@dataclass(frozen=True)
class Settings:
    """What every command may need: where OpenSearch is, which alias, which encoder."""

    opensearch_url: str = DEFAULT_URL
    index: str = DEFAULT_INDEX
    encoder: str | None = None
    """Asked for by flag or environment; None: the one the index records (else the default)."""
    adapter: Path | None = None
    device: str | None = None

    def client(self, timeout_s: float = 30.0, connect_timeout_s: float | None = None) -> Any:
        from visearch.engine.connection import make_client

        return make_client(
            self.opensearch_url, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s
        )

    def encoder_loader(self, *, batch_size: int = 32) -> Callable[[str], Any]:
        """spec -> the encoder, with this command's adapter and device."""
        from visearch.vectors import load_encoder

        def load(spec: str) -> Any:
            return load_encoder(
                spec, adapter=self.adapter, device=self.device, batch_size=batch_size
            )

        return load


def _index_name(_: click.Context, __: click.Parameter, value: str) -> str:
    from visearch.engine.names import check_index_name

    try:
        return check_index_name(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def quiet_model_loading() -> None:
    """No download or checkpoint progress bars from the model libraries: the commands say
    what they load themselves, and `--json` output stays the only output."""
    import logging

    for name in ("transformers", "sentence_transformers", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from huggingface_hub.utils import disable_progress_bars
    except ImportError:  # an older hub without the switch
        return
    disable_progress_bars()


def opensearch_url_option(command: Command) -> Command:
    return click.option(
        "--opensearch-url",
        envvar="OPENSEARCH_URL",
        default=DEFAULT_URL,
        show_default=True,
        help="OpenSearch to talk to [env OPENSEARCH_URL].",
    )(command)


def json_option(what: str) -> Callable[[Command], Command]:
    """`--json`: print `what` as JSON instead of for people."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as JSON.")


def device_option(command: Command) -> Command:
    return click.option(
        "--device", default=None, help="torch device (default: cuda if present, else cpu)."
    )(command)


def settings_options(command: Command) -> Command:
    """--opensearch-url, --index, --encoder, --adapter and --device, gathered into `settings`."""

    @opensearch_url_option
    @click.option(
        "--index",
        envvar="VISEARCH_INDEX",
        default=DEFAULT_INDEX,
        show_default=True,
        callback=_index_name,
        help="The alias queries and ingest use [env VISEARCH_INDEX].",
    )
    @click.option(
        "--encoder",
        envvar="VISEARCH_ENCODER",
        help="clip:<model id or path> or efficientnet-lite0; default: the one the index was "
        f"built with, else {DEFAULT_ENCODER} [env VISEARCH_ENCODER].",
    )
    @click.option(
        "--adapter",
        envvar="VISEARCH_ADAPTER",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Catalog-tuned adapter folder from `visearch tune` [env VISEARCH_ADAPTER].",
    )
    @device_option
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        opensearch_url: str,
        index: str,
        encoder: str | None,
        adapter: Path | None,
        device: str | None,
        **kwargs: Any,
    ) -> Any:
        settings = Settings(
            opensearch_url=opensearch_url,
            index=index,
            encoder=(encoder or "").strip() or None,
            adapter=adapter,
            device=device,
        )
        return command(*args, settings=settings, **kwargs)

    return wrapper


def emit(data: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], str]) -> None:
    """Print `data` as JSON for machines or through `render` for people."""
    click.echo(json.dumps(data, indent=2, default=str) if as_json else render(data))
