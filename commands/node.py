"""`visearch opensearch up | down | status`: the local node, with its settings read here."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from visearch.commands.options import emit, json_option, opensearch_url_option


def node_for(opensearch_url: str, environ: dict[str, str] | os._Environ) -> Any:
    """The local node serving `opensearch_url`, configured from the environment:
    VISEARCH_NODE_HOME (the cache), OPENSEARCH_JAVA_HOME, VISEARCH_NODE_JDK=system (use the
    machine's Java 21+), JAVA_HOME, VISEARCH_DEBIAN_MIRROR."""
    from visearch.scripts.node_jdk import DEFAULT_MIRROR
    from visearch.scripts.opensearch_node import JavaChoice, LocalNode, default_home

    parts = urlsplit(opensearch_url)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.scheme != "http":
        raise click.ClickException(
            f"OPENSEARCH_URL points at {opensearch_url}, another cluster: the local node only "
            "serves http://127.0.0.1:<port>. Unset OPENSEARCH_URL to use the local node."
        )
    machine = [environ.get("JAVA_HOME")]
    if java := shutil.which("java", path=environ.get("PATH")):
        machine.append(str(Path(java).resolve().parent.parent))
    explicit = environ.get("OPENSEARCH_JAVA_HOME")
    java_choice = JavaChoice(
        home=Path(explicit) if explicit else None,
        assemble=environ.get("VISEARCH_NODE_JDK", "").lower() != "system",
        machine_homes=tuple(Path(home) for home in machine if home),
        debian_mirror=environ.get("VISEARCH_DEBIAN_MIRROR") or DEFAULT_MIRROR,
    )
    home = default_home(environ.get("VISEARCH_NODE_HOME"), environ.get("XDG_CACHE_HOME"))
    return LocalNode(home=home, port=parts.port or 9200, java=java_choice)


def _render_status(data: dict[str, Any]) -> str:
    if not data.get("running"):
        return f"OpenSearch is not running at {data['url']}"
    plugins = ", ".join(data.get("plugins") or []) or "none"
    return (
        f"OpenSearch {data['status']} at {data['url']} "
        f"(pid {data['pid']}; JVM {data.get('jvm')}; plugins: {plugins})"
    )


@click.group("opensearch", short_help="A local OpenSearch node: up, down, status.")
def opensearch_group() -> None:
    """Run a local single-node OpenSearch with k-NN (no Docker needed).

    \b
    Example:
      visearch opensearch up && visearch opensearch status --json
    """


@opensearch_group.command("up", short_help="Provision and start the local node.")
@opensearch_url_option
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for yellow.")
@json_option("the status")
def opensearch_up(opensearch_url: str, timeout: float, as_json: bool) -> None:
    """Provision (first time: from Maven Central into a cache) and start the node; idempotent.

    \b
    Example:
      visearch opensearch up
    """
    from visearch.scripts.opensearch_node import JavaNotFoundError, NodeError, up

    node = node_for(opensearch_url, os.environ)
    try:
        emit(up(node, dict(os.environ), timeout_s=timeout), as_json, _render_status)
    except JavaNotFoundError as error:
        hint = "set OPENSEARCH_JAVA_HOME to a JDK 21+ (or JAVA_HOME with VISEARCH_NODE_JDK=system)"
        raise click.ClickException(f"{error}; {hint}") from error
    except NodeError as error:
        raise click.ClickException(str(error)) from error


@opensearch_group.command("down", short_help="Stop the local node.")
@opensearch_url_option
def opensearch_down(opensearch_url: str) -> None:
    """Stop the local node (its data stays in the cache).

    \b
    Example:
      visearch opensearch down
    """
    from visearch.scripts.opensearch_node import down

    stopped = down(node_for(opensearch_url, os.environ))
    click.echo("stopped" if stopped else "not running")


@opensearch_group.command("status", short_help="Is the local node up? Health, plugins.")
@opensearch_url_option
@json_option("the status")
def opensearch_status(opensearch_url: str, as_json: bool) -> None:
    """Say whether the local node answers, its health and its plugins; exit 1 when down.

    \b
    Example:
      visearch opensearch status --json
    """
    from visearch.scripts.opensearch_node import status

    data = status(node_for(opensearch_url, os.environ))
    emit(data, as_json, _render_status)
    if not data["running"]:
        sys.exit(1)
