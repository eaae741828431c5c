"""`visearch`: the command line. It parses, calls the library, and turns errors into messages.

Configuration lives here and only here: environment variables give the defaults, flags
override them, and the library receives plain values and a client.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click

DEFAULT_URL = "http://127.0.0.1:9200"
DEFAULT_INDEX = "products"
DEFAULT_ENCODER = "clip:clip-ViT-B-32"


@dataclass(frozen=True)
class Settings:
    """What every command may need: where OpenSearch is, which alias, which encoder."""

    opensearch_url: str = DEFAULT_URL
    index: str = DEFAULT_INDEX
    encoder: str = DEFAULT_ENCODER

    def client(self):  # noqa: ANN201 - opensearchpy is imported lazily to keep --help fast
        from plugin.connection import make_client

        return make_client(self.opensearch_url)


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--opensearch-url, --index and --encoder, each defaulting to its environment variable."""

    @click.option(
        "--opensearch-url",
        envvar="OPENSEARCH_URL",
        default=DEFAULT_URL,
        show_default=True,
        help="OpenSearch to talk to [env OPENSEARCH_URL].",
    )
    @click.option(
        "--index",
        envvar="VISEARCH_INDEX",
        default=DEFAULT_INDEX,
        show_default=True,
        help="The alias queries and ingest use [env VISEARCH_INDEX].",
    )
    @click.option(
        "--encoder",
        envvar="VISEARCH_ENCODER",
        default=DEFAULT_ENCODER,
        show_default=True,
        help="clip:<model id or path> or efficientnet-lite0 [env VISEARCH_ENCODER].",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, opensearch_url: str, index: str, encoder: str, **kwargs: Any) -> Any:
        settings = Settings(opensearch_url=opensearch_url, index=index, encoder=encoder)
        return command(*args, settings=settings, **kwargs)

    return wrapper


def emit(data: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], str]) -> None:
    """Print `data` as JSON for machines or through `render` for people."""
    click.echo(json.dumps(data, indent=2, default=str) if as_json else render(data))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """visearch: visual product search on OpenSearch."""


# --------------------------------------------------------------------------- opensearch


@main.group("opensearch")
def opensearch_group() -> None:
    """Run a local single-node OpenSearch with k-NN (no Docker needed).

    \b
    Example:
      visearch opensearch up && visearch opensearch status --json
    """


def _local_node(opensearch_url: str):  # noqa: ANN202
    from scripts.opensearch_node import LocalNode, default_home

    parts = urlsplit(opensearch_url)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.scheme != "http":
        raise click.ClickException(
            f"OPENSEARCH_URL points at {opensearch_url}, another cluster: the local node only "
            "serves http://127.0.0.1:<port>. Unset OPENSEARCH_URL to use the local node."
        )
    return LocalNode(home=default_home(), port=parts.port or 9200)


def _render_status(data: dict[str, Any]) -> str:
    if not data.get("running"):
        return f"OpenSearch is not running at {data['url']}"
    plugins = ", ".join(data.get("plugins") or []) or "none"
    return f"OpenSearch {data['status']} at {data['url']} (pid {data['pid']}; plugins: {plugins})"


@opensearch_group.command("up")
@click.option("--opensearch-url", envvar="OPENSEARCH_URL", default=DEFAULT_URL, show_default=True)
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for yellow.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def opensearch_up(opensearch_url: str, timeout: float, as_json: bool) -> None:
    """Provision (first time: from Maven Central into a cache) and start the node; idempotent.

    \b
    Example:
      visearch opensearch up
    """
    from scripts.opensearch_node import NodeError, up

    node = _local_node(opensearch_url)
    try:
        emit(up(node, timeout_s=timeout), as_json, _render_status)
    except NodeError as error:
        raise click.ClickException(str(error)) from error


@opensearch_group.command("down")
@click.option("--opensearch-url", envvar="OPENSEARCH_URL", default=DEFAULT_URL, show_default=True)
def opensearch_down(opensearch_url: str) -> None:
    """Stop the local node (its data stays in the cache).

    \b
    Example:
      visearch opensearch down
    """
    from scripts.opensearch_node import down

    stopped = down(_local_node(opensearch_url))
    click.echo("stopped" if stopped else "not running")


@opensearch_group.command("status")
@click.option("--opensearch-url", envvar="OPENSEARCH_URL", default=DEFAULT_URL, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def opensearch_status(opensearch_url: str, as_json: bool) -> None:
    """Say whether the local node answers, its health and its plugins; exit 1 when down.

    \b
    Example:
      visearch opensearch status --json
    """
    from scripts.opensearch_node import status

    data = status(_local_node(opensearch_url))
    emit(data, as_json, _render_status)
    if not data["running"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
