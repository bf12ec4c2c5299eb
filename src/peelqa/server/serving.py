"""Running the app under uvicorn, the same way for one process and for each worker of
`--workers`: the connection limits, proxy headers off, a bounded shutdown, exit status 0."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

from peelqa.config import Settings
from peelqa.server.protocol import protocol_class


class _GraceRanOut(logging.Filter):
    """A request still running when the shutdown grace period ends is cancelled, and uvicorn
    logs that as an application error with the cancellation's traceback. It is the grace
    period doing its work: one line says so instead."""

    def __init__(self, grace: int) -> None:
        super().__init__()
        self.grace = grace

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            record.msg, record.args = (
                "a request was cancelled: the shutdown grace period (%d s) ran out",
                (self.grace,),
            )
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def uvicorn_config(app: FastAPI, settings: Settings, *, log_level: str = "info") -> uvicorn.Config:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        # Our JSON access log (with request ids) replaces uvicorn's.
        access_log=False,
        http=protocol_class(
            max_head_bytes=settings.max_header_bytes, head_timeout=settings.header_timeout
        ),
        # X-Forwarded-For is read by server/proxy.py, from PEELQA_TRUSTED_PROXIES only.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_grace,
    )
    # After the Config, which sets up uvicorn's loggers.
    errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _GraceRanOut) for f in errors.filters):
        errors.addFilter(_GraceRanOut(settings.shutdown_grace))
    return config


def serve(config: uvicorn.Config, *, sockets: list[socket.socket] | None = None) -> bool:
    """Serve until SIGTERM or SIGINT, then finish (within the grace period) and return;
    False when the app could not start (its lifespan failed).

    uvicorn re-raises the signal that stopped it once it has shut down, with the handler that
    was in place before it started: left at the default, the process then dies of its own
    SIGTERM (status -15) after a clean stop. A handler that does nothing is put there instead,
    so that a clean stop ends with the caller's own exit status.
    """
    server = uvicorn.Server(config)

    def stopped(signum: int, frame: FrameType | None) -> None:
        """uvicorn's own handlers are in place while it serves; this one runs only when it
        re-raises the signal after its shutdown, or for a signal after that."""

    previous = {sig: signal.signal(sig, stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=sockets)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return server.started
