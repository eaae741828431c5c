"""`visearch opensearch up | down | status`: the local node or cluster, and `visearch
elasticsearch up | down | status`: a local Elasticsearch node from the same code, with their
settings read here."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from visearch.commands.options import (
    DEFAULT_INDEX,
    elasticsearch_url_option,
    emit,
    json_option,
    opensearch_url_option,
)


def node_for(
    opensearch_url: str, environ: dict[str, str] | os._Environ, engine: str = "opensearch"
) -> Any:
    """The local node serving `opensearch_url` (the first URL of a list), configured from the
    environment: VISEARCH_NODE_HOME (the cache), OPENSEARCH_JAVA_HOME, VISEARCH_NODE_JDK=system
    (use the machine's Java 21+), JAVA_HOME, VISEARCH_DEBIAN_MIRROR. An https URL is a
    secured node. `engine` is `opensearch` or `elasticsearch` (one cache and JDK for both)."""
    from visearch.scripts.node_engines import ENGINES
    from visearch.scripts.node_jdk import DEFAULT_MIRROR
    from visearch.scripts.opensearch_node import JavaChoice, LocalNode, NodeError, default_home

    parts = urlsplit(opensearch_url.split(",")[0].strip())
    setting = "ELASTICSEARCH_URL" if engine == "elasticsearch" else "OPENSEARCH_URL"
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.scheme not in ("http", "https"):
        raise click.ClickException(
            f"{setting} points at {opensearch_url}, another cluster: the local node only "
            f"serves http(s)://127.0.0.1:<port>. Unset {setting} to use the local node."
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
    try:
        return LocalNode(
            home=home,
            port=parts.port or 9200,
            java=java_choice,
            secure=parts.scheme == "https",
            engine=ENGINES[engine],
        )
    except NodeError as error:
        raise click.ClickException(f"{error}: use an http:// URL") from error


def cluster_for(
    opensearch_url: str,
    environ: dict[str, str] | os._Environ,
    nodes: int | None = None,
    secure: bool = False,
    heap: str | None = None,
) -> Any:
    """The local cluster whose first node serves `opensearch_url`: `nodes` nodes (default:
    what the last `up` there started, else one), secured when asked, by an https URL or by
    that last `up`."""
    from visearch.scripts.opensearch_cluster import CLUSTER_HEAP, LocalCluster, saved_layout

    first = node_for(opensearch_url, environ)
    saved = saved_layout(first.home, first.port) or {}
    size = nodes or int(saved.get("nodes", 1))
    secure = secure or first.secure or (nodes is None and bool(saved.get("secure")))
    heap = heap or saved.get("heap") or (first.heap if size == 1 else CLUSTER_HEAP)
    return LocalCluster.of(replace(first, secure=secure, heap=heap), size)


def _render_status(data: dict[str, Any], title: str = "OpenSearch") -> str:
    if not data.get("running"):
        return f"{title} is not running at {data.get('url') or ', '.join(data['urls'])}"
    plugins = ", ".join(data.get("plugins") or []) or "none"
    if "nodes" not in data:
        line = (
            f"{title} {data['status']} at {data['url']} "
            f"(pid {data['pid']}; JVM {data.get('jvm')}; plugins: {plugins})"
        )
        return line + _render_security(data)
    lines = [
        f"OpenSearch {data['status']}: cluster {data['cluster']}, "
        f"{data['health']['number_of_nodes']} of {len(data['nodes'])} nodes; plugins: {plugins}"
    ]
    for node in data["nodes"]:
        state = "joined" if node["joined"] else "NOT JOINED"
        extra = " cluster manager" if node.get("cluster_manager") else ""
        heap = f", heap {node['heap_percent']}%" if node.get("heap_percent") is not None else ""
        lines.append(f"  {node['name']}  {node['url']}  pid {node['pid']}  {state}{extra}{heap}")
    health = data["health"]
    lines.append(
        f"  shards: {health['active_shards']} active ({health['active_primary_shards']} "
        f"primaries), {health['initializing_shards']} initializing, "
        f"{health['relocating_shards']} relocating, {health['unassigned_shards']} unassigned"
    )
    for index, entry in data["indices"].items():
        spread = ", ".join(f"{name} {count}" for name, count in sorted(entry["nodes"].items()))
        states = ", ".join(f"{count} {state}" for state, count in entry["states"].items())
        lines.append(
            f"    {index}: {entry['primaries']} primaries + {entry['replicas']} replicas "
            f"({states}; {spread})"
        )
    return "\n".join(lines) + _render_security(data)


def _render_security(data: dict[str, Any]) -> str:
    if "ca_certs" not in data:
        return ""
    return (
        f"\n  TLS CA: {data['ca_certs']}; users admin, visearch_search, visearch_ingest "
        f"(passwords in {data['credentials']})"
    )


def _with_security(data: dict[str, Any], cluster: Any) -> dict[str, Any]:
    """Where a secured node's CA and generated passwords are (never the passwords)."""
    if not cluster.first.secure:
        return data
    from visearch.scripts.node_security import ca_file, credentials_file

    security = cluster.first.security
    return {
        **data,
        "ca_certs": str(ca_file(security)),
        "credentials": str(credentials_file(security)),
    }


@click.group("opensearch", short_help="A local OpenSearch node or cluster: up, down, status.")
def opensearch_group() -> None:
    """Run a local OpenSearch with k-NN (no Docker needed): one node, or a cluster of several
    on loopback ports; plain HTTP, or TLS with users (--secure).

    \b
    Example:
      visearch opensearch up && visearch opensearch status --json
      OPENSEARCH_URL=http://127.0.0.1:9320 visearch opensearch up --nodes 3 --secure
    """


@opensearch_group.command("up", short_help="Provision and start the local node or cluster.")
@opensearch_url_option
@click.option("--nodes", type=click.IntRange(1, 9), help="Nodes, on ports URL, URL+1, ...")
@click.option("--secure", is_flag=True, help="TLS on HTTP and transport, users and roles.")
@click.option("--heap", help="Heap per node (default 1g for one node, 2g each in a cluster).")
@click.option(
    "--index",
    envvar="VISEARCH_INDEX",
    default=DEFAULT_INDEX,
    show_default=True,
    help="With --secure: the alias the visearch roles cover [env VISEARCH_INDEX].",
)
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for yellow.")
@json_option("the status")
def opensearch_up(
    opensearch_url: str,
    nodes: int | None,
    secure: bool,
    heap: str | None,
    index: str,
    timeout: float,
    as_json: bool,
) -> None:
    """Provision (first time: from Maven Central into a cache) and start the node, or a
    cluster of --nodes nodes on consecutive ports; idempotent.

    \b
    Example:
      visearch opensearch up
      OPENSEARCH_URL=https://127.0.0.1:9320 visearch opensearch up --nodes 3 --secure
    """
    from visearch.scripts import opensearch_cluster, opensearch_node
    from visearch.scripts.opensearch_node import JavaNotFoundError, NodeError

    cluster = cluster_for(opensearch_url, os.environ, nodes, secure, heap)
    try:
        if len(cluster.nodes) == 1:
            opensearch_cluster.save_layout(cluster)
            data = opensearch_node.up(cluster.first, dict(os.environ), timeout, (index,))
        else:
            data = opensearch_cluster.up(cluster, dict(os.environ), timeout, (index,))
    except JavaNotFoundError as error:
        hint = "set OPENSEARCH_JAVA_HOME to a JDK 21+ (or JAVA_HOME with VISEARCH_NODE_JDK=system)"
        raise click.ClickException(f"{error}; {hint}") from error
    except NodeError as error:
        raise click.ClickException(str(error)) from error
    emit(_with_security(data, cluster), as_json, _render_status)


@opensearch_group.command("down", short_help="Stop the local node or cluster.")
@opensearch_url_option
def opensearch_down(opensearch_url: str) -> None:
    """Stop the local node, or every node of the cluster started there (data stays cached).

    \b
    Example:
      visearch opensearch down
    """
    from visearch.scripts import opensearch_cluster

    stopped = opensearch_cluster.down(cluster_for(opensearch_url, os.environ))
    click.echo(f"stopped {len(stopped)} node(s)" if len(stopped) > 1 else
               "stopped" if stopped else "not running")  # fmt: skip


@opensearch_group.command("status", short_help="Is it up? Health, nodes, shards, plugins.")
@opensearch_url_option
@json_option("the status")
def opensearch_status(opensearch_url: str, as_json: bool) -> None:
    """Say whether the local node or cluster answers: health, nodes, shards per index and
    plugins; exit 1 when down.

    \b
    Example:
      visearch opensearch status --json
    """
    from visearch.scripts import opensearch_cluster, opensearch_node

    cluster = cluster_for(opensearch_url, os.environ)
    if len(cluster.nodes) == 1:
        data = opensearch_node.status(cluster.first)
    else:
        data = opensearch_cluster.status(cluster)
    emit(_with_security(data, cluster), as_json, _render_status)
    if not data["running"]:
        sys.exit(1)


def _render_elasticsearch(data: dict[str, Any]) -> str:
    return _render_status(data, "Elasticsearch")


@click.group("elasticsearch", short_help="A local Elasticsearch node: up, down, status.")
def elasticsearch_group() -> None:
    """Run a local Elasticsearch node (no Docker needed): one node on loopback, plain HTTP,
    assembled from Maven Central like the OpenSearch one, in the same cache and on the same
    JDK 21. Search and ingest reach it with OPENSEARCH_URL=<its URL>: the engine is detected.

    \b
    Example:
      visearch elasticsearch up && visearch elasticsearch status --json
    """


@elasticsearch_group.command("up", short_help="Provision and start the local node.")
@elasticsearch_url_option
@click.option("--heap", default="1g", show_default=True, help="The node's heap.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for yellow.")
@json_option("the status")
def elasticsearch_up(elasticsearch_url: str, heap: str, timeout: float, as_json: bool) -> None:
    """Provision (first time: from Maven Central into a cache) and start the node; idempotent.

    \b
    Example:
      visearch elasticsearch up
    """
    from visearch.scripts import opensearch_node
    from visearch.scripts.opensearch_node import JavaNotFoundError, NodeError

    node = replace(node_for(elasticsearch_url, os.environ, "elasticsearch"), heap=heap)
    try:
        data = opensearch_node.up(node, dict(os.environ), timeout)
    except JavaNotFoundError as error:
        hint = "set OPENSEARCH_JAVA_HOME to a JDK 21+ (or JAVA_HOME with VISEARCH_NODE_JDK=system)"
        raise click.ClickException(f"{error}; {hint}") from error
    except NodeError as error:
        raise click.ClickException(str(error)) from error
    emit(data, as_json, _render_elasticsearch)


@elasticsearch_group.command("down", short_help="Stop the local node.")
@elasticsearch_url_option
def elasticsearch_down(elasticsearch_url: str) -> None:
    """Stop the local Elasticsearch node (its data stays cached).

    \b
    Example:
      visearch elasticsearch down
    """
    from visearch.scripts import opensearch_node

    stopped = opensearch_node.down(node_for(elasticsearch_url, os.environ, "elasticsearch"))
    click.echo("stopped" if stopped else "not running")


@elasticsearch_group.command("status", short_help="Is it up? Health, JVM, plugins.")
@elasticsearch_url_option
@json_option("the status")
def elasticsearch_status(elasticsearch_url: str, as_json: bool) -> None:
    """Say whether the local Elasticsearch node answers; exit 1 when down.

    \b
    Example:
      visearch elasticsearch status --json
    """
    from visearch.scripts import opensearch_node

    data = opensearch_node.status(node_for(elasticsearch_url, os.environ, "elasticsearch"))
    emit(data, as_json, _render_elasticsearch)
    if not data["running"]:
        sys.exit(1)
