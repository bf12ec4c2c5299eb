"""The app factory: it only wires. What a request does lives in the routers, middleware and the
answering service they call (see docs/architecture.md for the request path)."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from peelqa.config import Settings
from peelqa.metrics import Metrics
from peelqa.runtime import Components
from peelqa.server import access, observability
from peelqa.server.errors import install_error_handlers
from peelqa.server.headers import SecurityHeaders
from peelqa.server.lifespan import lifespan_of
from peelqa.server.middleware import BodyLimit, Deadline
from peelqa.server.proxy import ClientAddress
from peelqa.server.ratelimit import RateLimits
from peelqa.server.routes import (
    ask,
    chat,
    docs,
    documents,
    feedback,
    ops,
    pages,
    sections,
    usage,
)

# peelqa's telemetry is its own /metrics and access log. The OpenTelemetry bridge of recent
# FastAPI releases, on by default, looks up the global OTel providers on every request for a
# set-up peelqa does not make. Older releases lack it.
_NO_OTEL_BRIDGE: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


FEATURES = (ops, ask, sections, chat, feedback, usage, documents, pages, docs)
# An upload is streamed to disk under its own limit, and may take longer than a question.
UPLOADS = frozenset({"/v1/documents"})


def create_app(settings: Settings, *, components: Components | None = None) -> FastAPI:
    """The app; with `components` it serves those, else it loads the real ones at start-up."""
    metrics = Metrics()
    limits = RateLimits(
        per_minute=settings.rate_limit,
        key_per_minute=settings.key_rate_limit,
        auth_failures_per_minute=settings.auth_failure_limit,
        redis_url=settings.redis_url.get_secret_value(),
        metrics=metrics,
    )
    app = FastAPI(
        title="peelqa",
        version="0.1.0",
        summary="Cited answers about police inspection reports.",
        description=(
            "Ask about the reports in the corpus and get short answers built from the "
            "reports' own sentences, each cited to its section with the exact quote. "
            "When the reports do not answer, `answered` is false."
        ),
        lifespan=lifespan_of(settings, components=components, metrics=metrics, limits=limits),
        # /docs is Swagger UI from the package (routes/docs.py), not from a CDN.
        docs_url=None,
        redoc_url=None,
        **_NO_OTEL_BRIDGE,
    )
    app.state.service = None
    app.state.storage = None
    app.state.metrics = metrics
    app.state.admin_check = access.AdminCheck(
        admin_keys=settings.admin_keys.get_secret_value(),
        api_keys=settings.api_keys.get_secret_value(),
    )
    install_error_handlers(app)
    for feature in FEATURES:
        app.include_router(feature.router)
    # The routes as declared: what the access log names and a 405's `Allow` lists.
    app.state.routes = [route for feature in FEATURES for route in feature.router.routes]
    keys_on = bool(access.parse_keys(settings.api_keys.get_secret_value()))
    access.document_guards(
        app,
        keys_on=keys_on,
        rate_limit_on=settings.rate_limit > 0 or (keys_on and settings.auth_failure_limit > 0),
    )
    _add_middleware(app, settings, limits=limits, metrics=metrics)
    return app


def _add_middleware(
    app: FastAPI, settings: Settings, *, limits: RateLimits, metrics: Metrics
) -> None:
    """Outermost last: ClientAddress -> RequestContext -> SecurityHeaders -> Deadline ->
    BodyLimit -> CORS -> AccessGuard -> routes."""
    app.add_middleware(
        access.AccessGuard,
        api_keys=settings.api_keys.get_secret_value(),
        limits=limits,
        admin_keys=settings.admin_keys.get_secret_value(),
    )
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "Authorization", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        timeout=settings.body_timeout,
        exempt=UPLOADS,
    )
    app.add_middleware(Deadline, seconds=settings.request_timeout, exempt=UPLOADS)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        observability.RequestContext,
        log_questions=settings.log_questions,
        metrics=metrics,
        routes=app.state.routes,
    )
    app.add_middleware(ClientAddress, trusted_proxies=settings.trusted_proxies)
