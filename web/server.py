"""Run the app under uvicorn with the request id in every log line, and with the limits
uvicorn lacks: a time limit for request headers and a cap on open connections.

uvicorn closes idle keep-alive connections, but a connection that never finishes its request
headers (a slow-loris client) would stay open forever, and `limit_concurrency` only answers
once headers are complete. `guarded_protocol` adds both limits to uvicorn's h11 protocol.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from visearch.web.config import ServiceConfig
from visearch.web.context import configure_logging

log = logging.getLogger("visearch.web")
_BUSY_BODY = b'{"error": {"code": "busy", "message": "too many connections; retry shortly"}}'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"retry-after: 1\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
    % (len(_BUSY_BODY), _BUSY_BODY)
)


def guarded_protocol(header_timeout_s: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections whose headers take longer than
    `header_timeout_s` and answering 503 to connections beyond `max_connections`."""

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                log.warning("connection refused: %d open connections", len(self.connections))
                transport.write(_BUSY)
                transport.close()
                return
            self._start_header_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            started = self.cycle is not None and not self.cycle.response_complete
            if started and self._header_timer is not None:
                self._header_timer.cancel()  # the headers are in: the request has started
                self._header_timer = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._start_header_timer()  # the next request on this connection, if any

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            super().connection_lost(exc)

        def _start_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.cycle is None or self.cycle.response_complete:
                log.warning("closing a connection whose request headers took too long")
                self.transport.close()

    return GuardedH11Protocol


def serve(
    app: FastAPI, host: str, port: int, config: ServiceConfig, *, log_level: int = logging.INFO
) -> None:
    configure_logging(log_level)
    protocol: Any = guarded_protocol(config.header_timeout_s, config.max_connections)
    # log_config=None keeps uvicorn's loggers on our handler; web.context writes the access
    # lines itself (with the request id), so uvicorn's own access log is off.
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=protocol,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=5,
    )
