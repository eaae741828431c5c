"""The cache of exported models, gate verdicts and `auto` decisions, outside the repository.

One folder per model and weights: `<cache>/<model slug>-<weights digest>/` holds the ONNX
exports (`fp32-image.onnx`, `int8-static-<calibration id>-image.onnx`, ...), `manifest.json`
(what the export checked against torch), `verdicts.json` (the quality gate's figures per
runtime, precision, artifact and CPU) and `choices.json` (what `auto` picked on this CPU).
Writes are atomic (temp file and rename) and builds hold a lock, so two processes loading the
same model build it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import tempfile
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16", "amx_int8")
_CHUNK = 1 << 20


def file_digest(path: Path, memo: Path | None = None) -> str:
    """SHA-256 of a file's bytes; remembered in `memo` by (path, size, mtime), so a large
    weights file is read once, not at every load."""
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    known = read_json(memo) if memo else {}
    if key in known:
        return str(known[key])
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    if memo:
        write_json(memo, {**read_json(memo), key: digest.hexdigest()})
    return digest.hexdigest()


def files_digest(files: Iterable[tuple[str, Path]], memo: Path | None = None) -> str:
    """One digest over named files (name and content digest each)."""
    digest = hashlib.sha256()
    for name, path in sorted(files):
        digest.update(f"{name}\0{file_digest(path, memo)}\0".encode())
    return digest.hexdigest()


def text_digest(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()


@cache
def cpu_id() -> str:
    """This CPU's model and the instruction sets that change int8/bf16 kernels (and so their
    vectors and speed): a verdict or a choice made on one CPU is not reused on another."""
    model, flags = platform.machine(), set()
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text()
        if found := re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE):
            model = found.group(1).strip()
        if found := re.search(r"^flags\s*:\s*(.+)$", text, re.MULTILINE):
            flags = set(found.group(1).split())
    present = [flag for flag in CPU_FLAGS if flag in flags]
    return text_digest(model, *present)[:12]


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(data, out, indent=2, sort_keys=True)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; this is an ordinary cache file
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class ModelStore:
    """The cache folder of one model at one set of weights."""

    def __init__(self, root: Path, slug: str, weights: str) -> None:
        self.slug, self.weights = slug, weights
        self.dir = root / f"{slug}-{weights[:16]}"

    def path(self, name: str) -> Path:
        return self.dir / name

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held while building: a second process waits, then finds the files made."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read(self, name: str) -> dict[str, Any]:
        return read_json(self.dir / name)

    def update(self, name: str, key: str, value: Any) -> None:
        """Set one entry of a JSON file of the store (read, change, write atomically)."""
        write_json(self.dir / name, {**self.read(name), key: value})

    def save_atomically(self, target: Path, write: Any) -> Path:
        """`write(tmp_path)` then rename to `target`: an interrupted build leaves nothing."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            write(tmp)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return target


def slugify(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return slug[-60:] or "model"
