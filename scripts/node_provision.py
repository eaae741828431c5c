"""Assemble an OpenSearch distribution with its plugins from Maven Central, once, in a cache.

Two distributions: the plain one (OpenSearch 3.5.0 + k-NN 3.5.0.0) and the secured one, which
adds the security plugin. The newest `opensearch-security` zip on Maven Central is 3.4.0.0
(there is no 3.5.0.0 there), and the 3.4.0 server zip there carries no modules (no
lang-painless for k-NN, no english analyzer, no rule-framework for security itself), so the
secured distribution is the 3.5.0 server with k-NN 3.5.0.0 and security 3.4.0.0, whose
descriptor is rewritten to accept 3.5.0 (OpenSearch refuses a plugin built for another version
outright). tests/test_secure_node.py runs what visearch needs of it (TLS on both layers, users,
roles, the REST API) on every run. Bump `SECURE` when a 3.5 security zip is published.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


class NodeError(RuntimeError):
    """The local node could not be provisioned, started or stopped; the message says why."""


@dataclass(frozen=True)
class Distribution:
    """A server zip and the plugin zips unpacked into it, all named in `pom`."""

    version: str
    plugins: tuple[tuple[str, str], ...]
    """(plugin folder, zip file name) pairs, unpacked under `plugins/<folder>`; a plugin built
    for another server version is told it is built for this one."""
    pom: Path
    suffix: str = ""
    product: str = "opensearch"
    """The server zip's name and top folder: `opensearch` or `elasticsearch`."""

    @property
    def folder(self) -> str:
        return f"{self.product}-{self.version}{self.suffix}"

    @property
    def server_zip(self) -> str:
        return f"{self.product}-{self.version}.zip"

    @property
    def files(self) -> list[str]:
        return [self.server_zip, *(name for _, name in self.plugins)]


PLAIN = Distribution(
    "3.5.0", (("opensearch-knn", "opensearch-knn-3.5.0.0.zip"),), HERE / "opensearch-node.pom.xml"
)
SECURE = Distribution(
    "3.5.0",
    (
        ("opensearch-knn", "opensearch-knn-3.5.0.0.zip"),
        ("opensearch-security", "opensearch-security-3.4.0.0.zip"),
    ),
    HERE / "opensearch-secure-node.pom.xml",
    suffix="-secure",
)


def provision(home: Path, dist: Distribution) -> Path:
    """Download and assemble `dist` under `home` once; later calls return at once."""
    target = home / dist.folder
    marker = target / ".visearch-assembled"
    if marker.exists():
        return target
    downloads = home / "downloads"
    download(downloads, dist)
    staging = Path(tempfile.mkdtemp(prefix="assemble-", dir=home))
    try:
        with zipfile.ZipFile(downloads / dist.server_zip) as dist_zip:
            dist_zip.extractall(staging)
        unpacked = staging / f"{dist.product}-{dist.version}"
        for folder, name in dist.plugins:
            _unpack_plugin(unpacked, folder, downloads / name, dist.version)
        for script in (unpacked / "bin").iterdir():
            script.chmod(0o755)
        (unpacked / ".visearch-assembled").write_text(dist.version + "\n")
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _unpack_plugin(dist: Path, folder: str, zip_path: Path, version: str) -> None:
    """What `opensearch-plugin install` does: the zip under plugins/<folder>, and its
    `config/` (the security plugin's defaults) under config/<folder>; the descriptor names
    the server `version`."""
    plugin = dist / "plugins" / folder
    plugin.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as plugin_zip:
        plugin_zip.extractall(plugin)
    descriptor = plugin / "plugin-descriptor.properties"
    lines = descriptor.read_text().splitlines()
    pinned = [f"opensearch.version={version}" if ln.startswith("opensearch.version=") else ln
              for ln in lines]  # fmt: skip
    descriptor.write_text("\n".join(pinned) + "\n")
    if (plugin / "config").is_dir():
        shutil.move(plugin / "config", dist / "config" / folder)
    for tool in (plugin / "tools").glob("*.sh"):
        tool.chmod(0o755)


def download(target: Path, dist: Distribution) -> None:
    """Fetch every artifact named in the pom from Maven Central (maven's own cache helps too)."""
    if all((target / name).exists() for name in dist.files):
        return
    if shutil.which("mvn") is None:
        raise NodeError(f"Maven (mvn) is needed to fetch {dist.product} from Maven Central")
    target.mkdir(parents=True, exist_ok=True)
    command = [
        "mvn", "-q", "-B", "-f", str(dist.pom),
        "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
        "-DexcludeTransitive=true", f"-DoutputDirectory={target}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    missing = [name for name in dist.files if not (target / name).exists()]
    if result.returncode != 0 or missing:
        raise NodeError(
            f"fetching {dist.product} from Maven Central failed (missing {missing}):\n"
            + (result.stdout + result.stderr)[-2000:]
        )
