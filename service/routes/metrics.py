"""``GET /metrics``: the app's Prometheus metrics in the text format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.observability import Metrics

router = APIRouter(tags=["observability"])

EXAMPLE = (
    "# HELP rnn_forecast_http_requests_total HTTP requests by method, route "
    "template and status code\n"
    "# TYPE rnn_forecast_http_requests_total counter\n"
    'rnn_forecast_http_requests_total{method="GET",route="/v1/health",'
    'status="200"} 3.0\n'
)


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics of this server process",
    responses={
        200: {
            "description": "Metrics in the Prometheus text exposition format",
            "content": {
                "text/plain": {"schema": {"type": "string"}, "example": EXAMPLE}
            },
        }
    },
)
def metrics(request: Request) -> Response:
    app_metrics: Metrics = request.app.state.metrics
    app_metrics.refresh()
    body = generate_latest(app_metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
