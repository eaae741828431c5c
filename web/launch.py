"""`visearch serve` in a child process on a free loopback port: for tests and benchmarks that
need the real server (its own process, event loop and micro-batcher), not an in-process app."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests


class Served(str):
    """The service's base URL (a str); `.pid` is its process, for benchmarks that watch it."""

    pid: int


class ServerDidNotStart(RuntimeError):
    """The server exited or never answered /healthz; the message holds its log."""


@contextmanager
def serve_in_background(
    opensearch_url: str,
    alias: str,
    flags: Sequence[str] = (),
    *,
    environ: Mapping[str, str],
    timeout_s: float = 180.0,
    healthy: bool = True,
) -> Iterator[Served]:
    """Start `visearch serve --index alias [flags]`; yield its base URL once /healthz is ok.

    The process starts from `environ`, offline, and with the index's own encoder answering
    (VISEARCH_ENCODER is dropped); it is stopped on exit. With `healthy=False` any answer
    from /healthz will do (a service whose cluster is down).
    """
    env = {
        **environ,
        "OPENSEARCH_URL": opensearch_url,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("VISEARCH_ENCODER", None)
    port = _free_port()
    visearch = str(Path(sys.executable).with_name("visearch"))
    command = [visearch, "serve", "--index", alias, "--port", str(port), *flags]
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = Served(f"http://127.0.0.1:{port}")
        base.pid = process.pid
        try:
            _wait_healthy(base, process, log, timeout_s, healthy)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(  # noqa: ANN001 - log: a temporary file
    base: str, process: subprocess.Popen, log, timeout_s: float, healthy: bool
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise ServerDidNotStart(f"visearch serve exited {process.returncode}:\n{log.read()}")
        try:
            status = requests.get(f"{base}/healthz", timeout=5).status_code
            if status == 200 or not healthy:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    log.seek(0)
    raise ServerDidNotStart(f"visearch serve never became healthy:\n{log.read()}")
