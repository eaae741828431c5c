"""A local OpenSearch cluster: several nodes on loopback ports from the same cache.

Node i listens on HTTP port `first + i` and transport port `first + i + 100`; each has its own
data, log and config folders (`LocalNode` names them by port and cluster), discovery lists
every member's transport port, and all are cluster-manager-eligible data nodes, so the
cluster keeps a quorum with one node down. `up` writes a small layout file
(`cluster-<first port>.json`) so that `down` and `status` find every node again.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from visearch.scripts import opensearch_node as one
from visearch.scripts.opensearch_node import LocalNode, NodeError

CLUSTER_HEAP = "2g"
"""Per node: three nodes take 6 GB of a 24 GB machine; the rest is the page cache that
Lucene's vectors and HNSW graphs are read from (off the heap)."""
UNREACHABLE = (OSError, urllib.error.URLError, ValueError)


@dataclass(frozen=True)
class LocalCluster:
    nodes: tuple[LocalNode, ...]

    @classmethod
    def of(cls, first: LocalNode, size: int) -> LocalCluster:
        """`size` nodes from `first.port` up (one node: a plain single node)."""
        if size < 1:
            raise ValueError(f"a cluster needs at least one node, not {size}")
        if size == 1:
            return cls((replace(first, members=()),))
        ports = tuple(first.port + i for i in range(size))
        return cls(tuple(replace(first, port=port, members=ports) for port in ports))

    @property
    def first(self) -> LocalNode:
        return self.nodes[0]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def layout_file(self) -> Path:
        return layout_file(self.first.home, self.first.port)


def layout_file(home: Path, port: int) -> Path:
    return home / f"cluster-{port}.json"


def saved_layout(home: Path, port: int) -> dict[str, Any] | None:
    """What `up` recorded for the cluster whose first node listens on `port` (None: none)."""
    try:
        return json.loads(layout_file(home, port).read_text())
    except (OSError, ValueError):
        return None


def save_layout(cluster: LocalCluster) -> None:
    """Record how many nodes start here, secured or not, with which heap."""
    cluster.layout_file().parent.mkdir(parents=True, exist_ok=True)
    layout = {"nodes": len(cluster.nodes), "secure": cluster.first.secure}
    cluster.layout_file().write_text(json.dumps({**layout, "heap": cluster.first.heap}) + "\n")


def up(
    cluster: LocalCluster,
    environ: Mapping[str, str],
    timeout_s: float = 300.0,
    aliases: Sequence[str] = ("products",),
) -> dict[str, Any]:
    """Start every node that is not running and wait until all have joined and the cluster
    is yellow or green (then users, and roles for `aliases`, when secured). Idempotent."""
    save_layout(cluster)
    for node in cluster.nodes:
        if not _answers(node):
            one.start(node, environ)
    wait_until(cluster, len(cluster.nodes), "yellow", timeout_s)
    _allocation(cluster, None)  # all shards may move again (a rolling restart cut short)
    if cluster.first.secure:
        from visearch.scripts.node_security import apply_users_and_roles

        apply_users_and_roles(live_node(cluster), aliases)
    return status(cluster)


def down(cluster: LocalCluster, timeout_s: float = 60.0) -> list[int]:
    """Stop every node (SIGTERM); the ports of those that were running."""
    return [node.port for node in cluster.nodes if one.down(node, timeout_s)]


def kill(node: LocalNode) -> bool:
    """SIGKILL one node: a crash, with nothing flushed."""
    return one.kill(node)


def restart(
    cluster: LocalCluster, node: LocalNode, environ: Mapping[str, str], timeout_s: float = 300
) -> None:
    """Start `node` again and wait until it has rejoined (not for its shards to recover)."""
    one.start(node, environ)
    wait_until(cluster, len(cluster.nodes), "yellow", timeout_s)


def rolling_restart(
    cluster: LocalCluster,
    environ: Mapping[str, str],
    timeout_s: float = 600.0,
    on_step: Callable[[str], None] | None = None,
) -> None:
    """Restart every node in turn, the way operators do: replicas stay where they are while
    a node is away (allocation of primaries only), the node stops gracefully, starts, and the
    next one waits for green."""
    step = on_step or (lambda _: None)
    for node in cluster.nodes:
        _allocation(cluster, "primaries")
        _flush(cluster)
        step(f"stopping {node.node_name}")
        one.down(node)
        step(f"starting {node.node_name}")
        one.start(node, environ)
        wait_until(cluster, len(cluster.nodes), "yellow", timeout_s)
        _allocation(cluster, None)
        wait_until(cluster, len(cluster.nodes), "green", timeout_s)
        step(f"{node.node_name} is back; cluster green")


def wait_until(cluster: LocalCluster, nodes: int, colour: str, timeout_s: float) -> dict:
    """Wait until `nodes` nodes have joined and the health is `colour` (or better)."""
    deadline = time.monotonic() + timeout_s
    query = f"wait_for_status={colour}&wait_for_nodes=%3E%3D{nodes}&timeout=5s"
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        node = live_node(cluster, required=False)
        if node is not None:
            try:
                health = one.get_json(node, f"/_cluster/health?{query}", timeout=10)
            except UNREACHABLE:
                health = {}
            if not health.get("timed_out", True) and health.get("number_of_nodes", 0) >= nodes:
                return health
        time.sleep(1)
    tails = "\n".join(one.log_tail(node, 10) for node in cluster.nodes)
    raise NodeError(f"the cluster did not reach {colour} with {nodes} nodes: {health}\n{tails}")


def live_node(cluster: LocalCluster, *, required: bool = True) -> Any:
    """The first node that answers HTTP (None, or an error when `required`, if none does)."""
    for node in cluster.nodes:
        if _answers(node):
            return node
    if required:
        raise NodeError(f"no node of the cluster answers at {', '.join(cluster.urls)}")
    return None


def _answers(node: LocalNode) -> bool:
    try:
        one.get_json(node, "/", timeout=2)
    except urllib.error.HTTPError as error:
        return error.code != 503  # 503: a secured node whose security index is not up yet
    except UNREACHABLE:
        return False
    return True


def _allocation(cluster: LocalCluster, mode: str | None) -> None:
    body = {"persistent": {"cluster.routing.allocation.enable": mode}}
    _call(cluster, "PUT", "/_cluster/settings", body)


def _flush(cluster: LocalCluster) -> None:
    # A flush is a courtesy that shortens recovery; the restart is safe without it.
    with contextlib.suppress(NodeError):
        _call(cluster, "POST", "/_flush", {})


def _call(cluster: LocalCluster, method: str, path: str, body: Any, attempts: int = 5) -> Any:
    """A cluster-wide request to whichever node answers, tried again on a slow or busy node."""
    for attempt in range(attempts):
        try:
            return one.call(live_node(cluster), method, path, body, timeout=60)
        except (*UNREACHABLE, NodeError) as error:
            if attempt == attempts - 1:
                raise NodeError(f"{method} {path} failed: {error}") from error
            time.sleep(2)
    return None


def status(cluster: LocalCluster) -> dict[str, Any]:
    """Health, every node (running or not, with its role and heap), and the shards per index."""
    node = live_node(cluster, required=False)
    pids = {n.port: one.read_pid(n) for n in cluster.nodes}
    if node is None:
        return {"running": False, "urls": cluster.urls, "pids": pids}
    health = one.get_json(node, "/_cluster/health", timeout=5)
    columns = "name,http_address,node.role,cluster_manager,heap.percent,ram.percent,load_1m"
    joined = one.get_json(node, f"/_cat/nodes?format=json&h={columns}", timeout=5)
    shards = one.get_json(node, "/_cat/shards?format=json&h=index,prirep,state,node", timeout=5)
    plugins = one.get_json(node, "/_cat/plugins?format=json", timeout=5)
    by_name = {row["name"]: row for row in joined}
    return {
        "running": True,
        "url": node.url,
        "urls": cluster.urls,
        "secure": node.secure,
        "status": health.get("status"),
        "health": {k: v for k, v in health.items() if k != "cluster_name"},
        "cluster": health.get("cluster_name"),
        "nodes": [_node_row(n, by_name.get(n.node_name), pids[n.port]) for n in cluster.nodes],
        "indices": _shard_summary(shards),
        "plugins": sorted({p["component"] for p in plugins}),
        "home": str(cluster.first.home),
    }


def _node_row(node: LocalNode, row: dict[str, Any] | None, pid: int | None) -> dict[str, Any]:
    if row is None:
        return {"name": node.node_name, "url": node.url, "joined": False, "pid": pid}
    return {
        "name": node.node_name,
        "url": node.url,
        "joined": True,
        "pid": pid,
        "cluster_manager": row.get("cluster_manager") == "*",
        "roles": row.get("node.role"),
        "heap_percent": _int(row.get("heap.percent")),
        "ram_percent": _int(row.get("ram.percent")),
    }


def _shard_summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """index -> primaries, replicas, shard states and shards per node (system indices left out)."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["index"].startswith("."):
            continue
        entry = out.setdefault(
            row["index"], {"primaries": 0, "replicas": 0, "states": Counter(), "nodes": Counter()}
        )
        entry["primaries" if row["prirep"] == "p" else "replicas"] += 1
        entry["states"][row["state"]] += 1
        if row.get("node"):
            entry["nodes"][row["node"]] += 1
    return {
        name: {**entry, "states": dict(entry["states"]), "nodes": dict(entry["nodes"])}
        for name, entry in sorted(out.items())
    }


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
