"""The request id: taken from X-Request-ID (or made up), echoed in the response, and put on
every log line written while the request is served, worker threads included (anyio copies
the context into them)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_request_id: ContextVar[str] = ContextVar("request_id", default="-")

access_log = logging.getLogger("visearch.access")
log = logging.getLogger("visearch.web")


def current_request_id() -> str:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id`, so a format can say `%(request_id)s`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
# C0 and C1 controls and the Unicode line separators: a client's %0a must not start a line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """`text` with every control character written as an escape (\\n, \\x1b, ...)."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


class SafeFormatter(logging.Formatter):
    """Escapes control characters in each logged message, so no value a client sends (a
    path, a sku, a header) can forge a log line; tracebacks keep their own line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


# The cluster clients write an INFO line for every request they send (each search, each
# health check): the search line already has the round trip's time, so only their warnings
# and errors (failed requests) are kept, unless the level asks for debugging.
CLIENT_LOGGERS = ("opensearch", "elastic_transport")


def configure_logging(level: int = logging.INFO) -> None:
    """One stderr handler on the root logger, with the request id on every line."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(SafeFormatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else logging.WARNING)


class RequestContext:
    """ASGI middleware: request id in and out, one access line per request, and a JSON 500
    for anything no handler caught (the response still carries the request id)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        request_id = given if _VALID_ID.fullmatch(given) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error")
            if status:  # the response had started: nothing more can be said
                raise
            await _send_500(send_with_id, request_id)
        finally:
            ms = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %s %.1fms", scope["method"], scope["path"], status or 500, ms)
            _request_id.reset(token)


async def _send_500(send: Send, request_id: str) -> None:
    body: dict[str, Any] = {
        "error": {
            "code": "internal_error",
            "message": "internal error; the log has the details",
            "request_id": request_id,
        }
    }
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": data})
