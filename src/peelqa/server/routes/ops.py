"""Operations: `GET /healthz` for probes and `GET /metrics` for Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client.exposition import choose_encoder

from peelqa.models import Health
from peelqa.server.errors import ERRORS, error_response

router = APIRouter(tags=["ops"])

_METRICS_EXAMPLE = (
    "# HELP peelqa_requests_total HTTP requests answered, by route and status\n"
    "# TYPE peelqa_requests_total counter\n"
    'peelqa_requests_total{method="POST",route="/v1/ask",status="200"} 42.0\n'
)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format (OpenMetrics when the scraper asks for it).",
            "content": {
                "text/plain": {"schema": {"type": "string"}, "example": _METRICS_EXAMPLE},
                "application/openmetrics-text": {
                    "schema": {"type": "string"},
                    "example": _METRICS_EXAMPLE + "# EOF\n",
                },
            },
        }
    },
)
async def metrics(request: Request) -> Response:
    """Counters and histograms for Prometheus: `peelqa_requests_total` (by route and status),
    `peelqa_request_duration_seconds`, `peelqa_answers_total`, `peelqa_refusals_total`
    (questions the reports do not answer), `peelqa_cached_answers_total` (of those, repeated
    from the answer cache) and `peelqa_errors_total` (by status and error code),
    plus the process's own figures. Open like /healthz: it holds counts, never questions."""
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(request.app.state.metrics.registry), media_type=content_type)


@router.get(
    "/healthz",
    response_model=Health,
    response_model_exclude_none=True,
    responses={503: ERRORS[503]},
)
async def healthz(request: Request) -> Any:
    """200 once the index is loaded and questions can be answered; 503 before. With an LLM
    server configured, `llm` tells whether it is answering (`degraded`: answers are
    extractive meanwhile; the service itself is still up)."""
    service = getattr(request.app.state, "service", None)
    if service is None:
        return error_response(503, "not_ready", "the index is still loading")
    if service.generator is None:
        return {"status": "ok"}
    return Health(status="ok", llm=service.generator.llm.health())
