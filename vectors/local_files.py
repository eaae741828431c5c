"""Local image files: only regular files, capped, and (for catalogs) only inside the folders
a catalog may name, checked by name before opening and by real place once open."""

from __future__ import annotations

import os
import stat
import time
from functools import cache
from pathlib import Path
from typing import BinaryIO

from visearch.vectors.image_limits import CHUNK, ImageError, ImageLoaderConfig

OUTSIDE_ROOTS = "outside the folders images may be read from"


def allowed_path(ref: str, path: str, config: ImageLoaderConfig) -> str:
    """`path`, absolute and normalised, if it lies in one of the allowed folders by name; the
    file's real place (symlinks followed) is checked again once it is open. The refusal does
    not say whether the file exists."""
    if config.local_roots is None:
        return path
    normal = os.path.normpath(os.path.abspath(path))
    if not _inside(normal, _root_names(config.local_roots)):
        raise ImageError(ref, OUTSIDE_ROOTS)
    return normal


@cache
def _root_names(roots: tuple[Path, ...]) -> tuple[str, ...]:
    """Each allowed folder as given and as its real path, with a trailing separator."""
    names = {os.path.abspath(root) for root in roots} | {os.path.realpath(root) for root in roots}
    return tuple(name.rstrip(os.sep) + os.sep for name in names)


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path.startswith(root) for root in roots)


def _real_path(fd: int, path: str) -> str:
    """Where an open file really is: one readlink on Linux, realpath elsewhere."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(path)


def read_file(ref: str, path: str, config: ImageLoaderConfig) -> bytes:
    """A regular file's bytes, capped; a FIFO, device or directory is refused before any
    read (opened non-blocking, so a FIFO cannot hang the caller)."""
    where = "" if str(path) == ref else f" ({path})"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ImageError(ref, f"file not found{where}") from None
    except IsADirectoryError:
        raise ImageError(ref, f"is a directory, not a file{where}") from None
    except PermissionError:
        raise ImageError(ref, f"permission denied{where}") from None
    except OSError as e:
        raise ImageError(ref, f"cannot read file{where}: {e.strerror or e}") from None
    try:
        roots = config.local_roots
        if roots is not None and not _inside(_real_path(fd, path), _root_names(roots)):
            raise ImageError(ref, OUTSIDE_ROOTS)  # a symlink out of the allowed folders
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ImageError(ref, f"is a directory, not a file{where}")
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(ref, f"not a regular file (a device, pipe or socket){where}")
        if info.st_size > config.max_bytes:
            raise ImageError(ref, f"larger than {config.max_bytes} bytes ({info.st_size} bytes)")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        return _read_regular(ref, f, where, config)


def _read_regular(ref: str, f: BinaryIO, where: str, config: ImageLoaderConfig) -> bytes:
    deadline = time.monotonic() + config.timeout_s
    chunks, size = [], 0
    try:
        # Read one byte past the cap: growing files (and /proc) lie about st_size.
        while chunk := f.read(min(CHUNK, config.max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > config.max_bytes:
                raise ImageError(ref, f"larger than {config.max_bytes} bytes")
            if time.monotonic() > deadline:
                raise ImageError(ref, f"reading took longer than {config.timeout_s:g}s{where}")
    except OSError as e:
        raise ImageError(ref, f"cannot read file{where}: {e.strerror or e}") from None
    if not size:
        raise ImageError(ref, f"empty file (0 bytes){where}")
    return b"".join(chunks)
