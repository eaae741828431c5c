"""A real OpenSearch + k-NN on loopback, assembled from Maven Central, for machines without
Docker: one node, or a cluster of several (`scripts/opensearch_cluster.py`), plain or secured.

The `integ-test-zip` distribution (every module, no bundled JDK) gets the k-NN plugin zip
under `plugins/` (`scripts/node_provision.py`) and runs on loopback with a JDK 21
(`scripts/node_jdk.py`). Each node has its own data, log and config folders, named by its HTTP
port (and its cluster, and whether it is secured), so nodes never share state. Everything is
cached outside the work tree, so a second `up` takes seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from visearch.scripts.node_config import write_config
from visearch.scripts.node_engines import OPENSEARCH, NodeEngine
from visearch.scripts.node_jdk import DEFAULT_MIRROR, JdkError, node_jdk
from visearch.scripts.node_provision import PLAIN, Distribution, NodeError, provision

OPENSEARCH_VERSION = PLAIN.version
KNN_VERSION = "3.5.0.0"
JAVA_MAJOR = 21  # OpenSearch 3 needs 21+
RUN_AS_USER = "opensearch"  # neither engine runs as root; both run as this cache's owner
TRANSPORT_OFFSET = 100  # a node's transport port is its HTTP port + 100


class JavaNotFoundError(NodeError):
    """No Java 21+ for the node: none given, none assembled, the machine's too old."""


@dataclass(frozen=True)
class JavaChoice:
    """How the node finds its Java (OpenSearch 3 needs 21+): `home` when given; else a JDK 21
    assembled in the cache (unless `assemble` is off); else the first of `machine_homes`
    (the machine's JAVA_HOME, `java` on the PATH) that is 21 or newer."""

    home: Path | None = None
    assemble: bool = True
    machine_homes: tuple[Path, ...] = ()
    debian_mirror: str = DEFAULT_MIRROR


@dataclass(frozen=True)
class LocalNode:
    """Where the node lives and how it listens; `home` is a cache outside the work tree.

    `members` are the HTTP ports of every node of its cluster (empty: a single node);
    `secure` adds the security plugin, TLS on HTTP and transport, and users; `engine` is
    OpenSearch or Elasticsearch (scripts/node_engines.py), from one cache and one JDK."""

    home: Path
    port: int = 9200
    heap: str = "1g"
    java: JavaChoice = field(default_factory=JavaChoice)
    members: tuple[int, ...] = ()
    secure: bool = False
    engine: NodeEngine = OPENSEARCH

    def __post_init__(self) -> None:
        if self.secure and self.engine.secure_distribution is None:
            raise NodeError(f"a secured local {self.engine.title} node is not provided")

    @property
    def distribution(self) -> Distribution:
        if self.secure and self.engine.secure_distribution is not None:
            return self.engine.secure_distribution
        return self.engine.distribution

    @property
    def dist(self) -> Path:
        return self.home / self.distribution.folder

    @property
    def downloads(self) -> Path:
        return self.home / "downloads"

    @property
    def tag(self) -> str:
        """What names the node's folders: its port, plus its cluster and security."""
        parts = [str(self.port)]
        if self.members:
            parts.append(f"cluster{self.members[0]}")
        if self.secure:
            parts.append("secure")
        if self.engine.folder_suffix:
            parts.append(self.engine.folder_suffix)
        return "-".join(parts)

    @property
    def data(self) -> Path:
        return self.home / f"data-{self.tag}"

    @property
    def logs(self) -> Path:
        return self.home / f"logs-{self.tag}"

    @property
    def config(self) -> Path:
        return self.home / f"config-{self.tag}"

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.engine.name}-{self.tag}.pid"

    @property
    def transport_port(self) -> int:
        return self.port + TRANSPORT_OFFSET

    @property
    def cluster_name(self) -> str:
        return f"visearch-cluster-{self.members[0]}" if self.members else "visearch-local"

    @property
    def node_name(self) -> str:
        return f"visearch-{self.port}" if self.members else "visearch-local-1"

    @property
    def security(self) -> Path:
        """The CA, certificates and generated passwords of every secured node of this cache."""
        return self.home / "security"

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://127.0.0.1:{self.port}"

    def peers(self) -> list[LocalNode]:
        """Every node of this node's cluster (itself alone when it is a single node)."""
        return [replace(self, port=port) for port in self.members] or [self]


def default_home(explicit: str | None = None, xdg_cache: str | None = None) -> Path:
    """The cache root: `explicit`, else (as root, whose node runs as another user who cannot
    enter /root) /var/cache, else the user's cache folder."""
    if explicit:
        return Path(explicit)
    if os.geteuid() == 0:
        return Path("/var/cache/visearch/opensearch")
    return Path(xdg_cache or Path.home() / ".cache") / "visearch" / "opensearch"


# --------------------------------------------------------------------------- running


def status(node: LocalNode) -> dict[str, object]:
    """What the node says about itself, or that it is not answering."""
    pid = read_pid(node)
    try:
        health = get_json(node, "/_cluster/health", timeout=2)
        plugins = get_json(node, "/_cat/plugins?format=json", timeout=2)
        jvms = get_json(node, "/_nodes/_local/jvm", timeout=2)
    except (OSError, urllib.error.URLError, ValueError):
        return {"running": False, "url": node.url, "pid": pid}
    return {
        "running": True,
        "url": node.url,
        "pid": pid,
        "status": health.get("status"),
        "plugins": sorted({p["component"] for p in plugins}),
        "jvm": next((n["jvm"]["version"] for n in jvms.get("nodes", {}).values()), None),
        "home": str(node.home),
    }


def up(
    node: LocalNode,
    environ: Mapping[str, str],
    timeout_s: float = 180.0,
    aliases: Sequence[str] = ("products",),
) -> dict[str, object]:
    """Provision if needed, start if not running, wait for yellow. Idempotent.

    `environ` is the environment the node process starts from (plus its own settings). A
    secured node gets its users, and roles for `aliases` (scripts/node_security.py)."""
    current = status(node)
    if not current["running"]:
        start(node, environ)
        wait_for_health(node, timeout_s, nodes=1)
    if node.secure:
        from visearch.scripts.node_security import apply_users_and_roles

        apply_users_and_roles(node, aliases)
    return status(node)


def start(node: LocalNode, environ: Mapping[str, str]) -> None:
    """Provision, write the config and start the node process; do not wait for it."""
    provision(node.home, node.distribution)
    write_config(node)
    conf, java_opts, java = node.engine.env_names()
    node_env = {
        conf: str(node.config),
        java_opts: f"-Xms{node.heap} -Xmx{node.heap}",
        java: java_home(node),
    }
    env = {**environ, **node_env}
    env.pop("JAVA_TOOL_OPTIONS", None)
    command = [str(node.dist / node.engine.launcher), "-p", str(node.pid_file)]
    if os.geteuid() == 0:
        _ensure_run_user()
        for path in (node.home, node.data, node.logs, node.config, *node.config.rglob("*")):
            shutil.chown(path, RUN_AS_USER, RUN_AS_USER)  # the node reads its own keys
        env_args = [f"{key}={value}" for key, value in node_env.items()]
        command = ["runuser", "-u", RUN_AS_USER, "--", "env", *env_args, *command]
    node.pid_file.unlink(missing_ok=True)
    # Its own session, so the node outlives this process (a test run, a shell) until `down`.
    with open(node.logs / "console.log", "ab") as console:
        subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=node.home,
        )


def down(node: LocalNode, timeout_s: float = 60.0) -> bool:
    """Stop the node this cache started (SIGTERM, then SIGKILL after `timeout_s`); True if
    one was running."""
    pid = read_pid(node)
    if pid is None or not alive(pid):
        node.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            time.sleep(1)
            break
        time.sleep(0.3)
    node.pid_file.unlink(missing_ok=True)
    return True


def kill(node: LocalNode) -> bool:
    """SIGKILL the node (a crash: no shutdown, nothing flushed); True if it was running."""
    pid = read_pid(node)
    if pid is None or not alive(pid):
        return False
    os.kill(pid, signal.SIGKILL)
    while alive(pid):
        time.sleep(0.1)
    return True


def java_home(node: LocalNode) -> str:
    """The distribution bundles no JDK; see `JavaChoice` for the order the node looks in."""
    choice = node.java
    if choice.home is not None and (choice.home / "bin" / "java").exists():
        return str(choice.home)
    problem = "the assembled JDK is turned off"
    if choice.assemble:
        try:
            return str(node_jdk(node.home, choice.debian_mirror))
        except JdkError as error:
            problem = f"no JDK 21 could be assembled: {error}"
    for home in choice.machine_homes:
        if (_java_major(home) or 0) >= JAVA_MAJOR:
            return str(home)
    raise JavaNotFoundError(
        f"{node.engine.title} {node.distribution.version} needs Java {JAVA_MAJOR}+ ({problem}), "
        f"and the machine's Java is older or missing: point the node at a JDK {JAVA_MAJOR}+"
    )


def _java_major(java_home: Path) -> int | None:
    """21 for `openjdk version "21.0.13"`; None when that Java does not run."""
    try:
        java = str(java_home / "bin" / "java")
        result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    quoted = result.stderr.split('"')
    return int(quoted[1].split(".")[0]) if len(quoted) > 2 and quoted[1][:2].isdigit() else None


def _ensure_run_user() -> None:
    probe = subprocess.run(["id", "-u", RUN_AS_USER], capture_output=True)
    if probe.returncode == 0:
        return
    created = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS_USER],
        capture_output=True,
        text=True,
    )
    if created.returncode != 0:
        raise NodeError(f"could not create user {RUN_AS_USER!r}: {created.stderr.strip()}")


def wait_for_health(node: LocalNode, timeout_s: float, nodes: int) -> dict[str, Any]:
    """Wait until the cluster `node` belongs to has `nodes` nodes and is yellow or green."""
    deadline = time.monotonic() + timeout_s
    query = f"wait_for_status=yellow&wait_for_nodes=%3E%3D{nodes}&timeout=2s"
    while time.monotonic() < deadline:
        pid = read_pid(node)
        if (pid is not None and not alive(pid)) or "uncaught exception" in log_tail(node):
            raise NodeError(f"{node.engine.title} exited while starting.\n{log_tail(node)}")
        try:
            health = get_json(node, f"/_cluster/health?{query}", timeout=5)
            if health.get("status") in ("yellow", "green") and health["number_of_nodes"] >= nodes:
                return health
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(1)
    title = node.engine.title
    raise NodeError(f"{title} did not reach yellow within {timeout_s:.0f}s.\n{log_tail(node)}")


def log_tail(node: LocalNode, lines: int = 40) -> str:
    log = node.logs / "console.log"
    if not log.exists():
        return f"(no log at {log})"
    return "log tail:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def read_pid(node: LocalNode) -> int | None:
    try:
        return int(node.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (OSError, IndexError):
        return ""


def get_json(node: LocalNode, path: str, timeout: float) -> Any:
    """GET `path` from the node as JSON (a secured node: over TLS, as the admin certificate)."""
    return call(node, "GET", path, timeout=timeout)


def call(node: LocalNode, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
    """One HTTP request to the node; the JSON answer. A secured node is called over TLS
    (checked against its CA) with the admin certificate, which the security plugin lets
    through as its super user, so no password is needed here."""
    context: ssl.SSLContext | None = None
    if node.secure:
        from visearch.scripts.node_security import admin_context

        context = admin_context(node.security)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{node.url}{path}", data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        return json.loads(response.read())
