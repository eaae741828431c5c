"""Run the app under uvicorn with the request id in every log line."""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI

from visearch.web.context import configure_logging


def serve(app: FastAPI, host: str, port: int, *, log_level: int = logging.INFO) -> None:
    configure_logging(log_level)
    # log_config=None keeps uvicorn's loggers on our handler; web.context writes the access
    # lines itself (with the request id), so uvicorn's own access log is off.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
