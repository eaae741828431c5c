"""A real single-node OpenSearch + k-NN, assembled from Maven Central, for machines without Docker.

The `integ-test-zip` distribution (every module, no bundled JDK) gets the k-NN plugin zip
under `plugins/` and runs on loopback with a JDK 21 (`scripts/node_jdk.py`). Everything is
cached outside the work tree, so a second `up` takes seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from visearch.scripts.node_jdk import DEFAULT_MIRROR, JdkError, node_jdk

POM = Path(__file__).with_name("opensearch-node.pom.xml")
OPENSEARCH_VERSION = "3.5.0"
KNN_VERSION = "3.5.0.0"
JAVA_MAJOR = 21  # OpenSearch 3 needs 21+
RUN_AS_USER = "opensearch"  # OpenSearch refuses to run as root

NODE_CONFIG = """\
cluster.name: visearch-local
node.name: visearch-local-1
network.host: 127.0.0.1
http.port: {port}
transport.port: {transport_port}
discovery.type: single-node
path.data: {data}
path.logs: {logs}
cluster.routing.allocation.disk.threshold_enabled: false
action.auto_create_index: false
"""


class NodeError(RuntimeError):
    """The local node could not be provisioned, started or stopped; the message says why."""


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
    """Where the node lives and how it listens; `home` is a cache outside the work tree."""

    home: Path
    port: int = 9200
    heap: str = "1g"
    java: JavaChoice = field(default_factory=JavaChoice)

    @property
    def dist(self) -> Path:
        return self.home / f"opensearch-{OPENSEARCH_VERSION}"

    @property
    def downloads(self) -> Path:
        return self.home / "downloads"

    @property
    def data(self) -> Path:
        return self.home / f"data-{self.port}"

    @property
    def logs(self) -> Path:
        return self.home / f"logs-{self.port}"

    @property
    def config(self) -> Path:
        return self.home / f"config-{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / f"opensearch-{self.port}.pid"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def default_home(explicit: str | None = None, xdg_cache: str | None = None) -> Path:
    """The cache root: `explicit`, else (as root, whose node runs as another user who cannot
    enter /root) /var/cache, else the user's cache folder."""
    if explicit:
        return Path(explicit)
    if os.geteuid() == 0:
        return Path("/var/cache/visearch/opensearch")
    return Path(xdg_cache or Path.home() / ".cache") / "visearch" / "opensearch"


# --------------------------------------------------------------------------- provisioning


def provision(node: LocalNode) -> Path:
    """Download and assemble the distribution once; later calls return at once."""
    marker = node.dist / ".visearch-assembled"
    if marker.exists():
        return node.dist
    _download(node.downloads)
    staging = Path(tempfile.mkdtemp(prefix="assemble-", dir=node.home))
    try:
        with zipfile.ZipFile(node.downloads / f"opensearch-{OPENSEARCH_VERSION}.zip") as dist_zip:
            dist_zip.extractall(staging)
        dist = staging / f"opensearch-{OPENSEARCH_VERSION}"
        knn_dir = dist / "plugins" / "opensearch-knn"
        knn_dir.mkdir(parents=True)
        with zipfile.ZipFile(node.downloads / f"opensearch-knn-{KNN_VERSION}.zip") as knn_zip:
            knn_zip.extractall(knn_dir)
        for script in (dist / "bin").iterdir():
            script.chmod(0o755)
        (dist / ".visearch-assembled").write_text(OPENSEARCH_VERSION + "\n")
        if node.dist.exists():
            shutil.rmtree(node.dist)
        dist.rename(node.dist)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return node.dist


def _download(target: Path) -> None:
    """Fetch every artifact named in the pom from Maven Central (maven's own cache helps too)."""
    wanted = [f"opensearch-{OPENSEARCH_VERSION}.zip", f"opensearch-knn-{KNN_VERSION}.zip"]
    if all((target / name).exists() for name in wanted):
        return
    if shutil.which("mvn") is None:
        raise NodeError("Maven (mvn) is needed to fetch OpenSearch from Maven Central")
    target.mkdir(parents=True, exist_ok=True)
    command = [
        "mvn", "-q", "-B", "-f", str(POM),
        "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
        "-DexcludeTransitive=true", f"-DoutputDirectory={target}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    missing = [name for name in wanted if not (target / name).exists()]
    if result.returncode != 0 or missing:
        raise NodeError(
            f"fetching OpenSearch from Maven Central failed (missing {missing}):\n"
            + (result.stdout + result.stderr)[-2000:]
        )


# --------------------------------------------------------------------------- running


def status(node: LocalNode) -> dict[str, object]:
    """What the node says about itself, or that it is not answering."""
    pid = _read_pid(node)
    try:
        health = _get_json(f"{node.url}/_cluster/health", timeout=2)
        plugins = _get_json(f"{node.url}/_cat/plugins?format=json", timeout=2)
        jvms = _get_json(f"{node.url}/_nodes/_local/jvm", timeout=2)
    except (OSError, urllib.error.URLError):
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


def up(node: LocalNode, environ: Mapping[str, str], timeout_s: float = 180.0) -> dict[str, object]:
    """Provision if needed, start if not running, wait for yellow. Idempotent.

    `environ` is the environment the node process starts from (plus its own settings)."""
    current = status(node)
    if current["running"]:
        return current
    provision(node)
    _write_config(node)
    env = {
        **environ,
        "OPENSEARCH_PATH_CONF": str(node.config),
        "OPENSEARCH_JAVA_OPTS": f"-Xms{node.heap} -Xmx{node.heap}",
        "OPENSEARCH_JAVA_HOME": java_home(node),
    }
    env.pop("JAVA_TOOL_OPTIONS", None)
    command = [str(node.dist / "bin" / "opensearch"), "-p", str(node.pid_file)]
    if os.geteuid() == 0:
        _ensure_run_user()
        for path in (node.home, node.data, node.logs, node.config):
            shutil.chown(path, RUN_AS_USER, RUN_AS_USER)
        env_args = [f"{key}={env[key]}" for key in _NODE_ENV]
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
    return _wait_for_yellow(node, timeout_s)


def down(node: LocalNode, timeout_s: float = 60.0) -> bool:
    """Stop the node this cache started; True if one was running."""
    pid = _read_pid(node)
    if pid is None or not _alive(pid):
        node.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            time.sleep(1)
            break
        time.sleep(0.3)
    node.pid_file.unlink(missing_ok=True)
    return True


def _write_config(node: LocalNode) -> None:
    """A config dir per port: the distribution's defaults plus our single-node settings."""
    for path in (node.data, node.logs, node.config):
        path.mkdir(parents=True, exist_ok=True)
    shutil.copy2(node.dist / "config" / "log4j2.properties", node.config / "log4j2.properties")
    # jvm.options writes GC logs and heap dumps relative to the distribution; point them at ours.
    jvm_options = (node.dist / "config" / "jvm.options").read_text()
    jvm_options = jvm_options.replace("file=logs/", f"file={node.logs}/")
    jvm_options = jvm_options.replace("ErrorFile=logs/", f"ErrorFile={node.logs}/")
    jvm_options = jvm_options.replace("HeapDumpPath=data", f"HeapDumpPath={node.data}")
    (node.config / "jvm.options").write_text(jvm_options)
    (node.config / "jvm.options.d").mkdir(exist_ok=True)
    settings = NODE_CONFIG.format(
        port=node.port, transport_port=node.port + 100, data=node.data, logs=node.logs
    )
    (node.config / "opensearch.yml").write_text(settings)


_NODE_ENV = ("OPENSEARCH_PATH_CONF", "OPENSEARCH_JAVA_OPTS", "OPENSEARCH_JAVA_HOME")


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
        f"OpenSearch {OPENSEARCH_VERSION} needs Java {JAVA_MAJOR}+ ({problem}), and the machine's "
        f"Java is older or missing: point the node at a JDK {JAVA_MAJOR}+"
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


def _wait_for_yellow(node: LocalNode, timeout_s: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid = _read_pid(node)
        if (pid is not None and not _alive(pid)) or "uncaught exception" in _log_tail(node):
            raise NodeError(f"OpenSearch exited while starting.\n{_log_tail(node)}")
        try:
            url = f"{node.url}/_cluster/health?wait_for_status=yellow&timeout=2s"
            health = _get_json(url, timeout=5)
            if health.get("status") in ("yellow", "green"):
                return status(node)
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(1)
    raise NodeError(f"OpenSearch did not reach yellow within {timeout_s:.0f}s.\n{_log_tail(node)}")


def _log_tail(node: LocalNode, lines: int = 40) -> str:
    log = node.logs / "console.log"
    if not log.exists():
        return f"(no log at {log})"
    return "log tail:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _read_pid(node: LocalNode) -> int | None:
    try:
        return int(node.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
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


def _get_json(url: str, timeout: float) -> dict | list:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())
