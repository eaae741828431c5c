"""A bare HTTP/1.1 keep-alive connection for load generators on the service's own machine.

Why not httpx: on 2 cores the load generator competes with the service it measures. httpx's
async client spent about 2.3 ms of CPU per photo upload (bench/api_load.py, 8 clients), a
tenth of the machine at 100 requests/s; writing prepared request bytes to an asyncio stream
and reading the answer by its Content-Length costs a fraction of that. It speaks just what
`visearch serve` answers with: a status line, headers and a Content-Length body.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit


class HttpError(Exception):
    """The connection failed or the answer was not HTTP/1.1 with a Content-Length."""


class KeepAlive:
    """One connection to `base` (http://host:port), reopened after the server closes it."""

    def __init__(self, base: str, timeout_s: float = 60.0) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout_s = timeout_s
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    @staticmethod
    def request(path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
        """The bytes of a POST of `body` to `path`, prepared once and sent many times."""
        lines = [f"POST {path} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send prepared request bytes; the answer's status and body."""
        try:
            return await asyncio.wait_for(self._exchange(request), self.timeout_s)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
            await self.close()
            raise HttpError(type(error).__name__) from error

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in header_lines if line)
        )
        if "content-length" not in headers:
            raise ValueError("no content-length")
        body = await reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
