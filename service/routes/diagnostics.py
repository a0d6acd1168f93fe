"""Gradient diagnostics: gradient flow through time and training-time norms.

- ``POST /v1/diagnostics/gradient-flow``: JSON, or a PNG plot when the
  Accept header prefers ``image/png``,
- ``POST /v1/diagnostics/gradient-flow.png``: the PNG plot,
- ``GET /v1/models/{name}/versions/{version}/gradients`` (and ``.png``): the
  gradient norms that training recorded per epoch.

Backpropagation and plotting run on the diagnostics thread pool, never on the
event loop, behind the admission control of ``service/diagnostics_queue.py``,
which stops a computation whose client disconnects.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response

from models.cancellation import StopCheck
from models.gradients import GradientFlow, GradientFlowSpec, compute_gradient_flow
from models.registry import check_name
from models.training_gradients import training_gradients
from models.version_checks import GRADIENT_FLOW
from service.deps import (
    CacheDep,
    DiagnosticsQueueDep,
    RegistryDep,
    ResolverDep,
    SettingsDep,
)
from service.diagnostics_queue import ClientDisconnectedError, DiagnosticsQueue
from service.errors import PROBLEM_MEDIA_TYPE
from service.etag import ETAG_HEADERS, NOT_MODIFIED, content_etag, matches
from service.inference import ModelCache
from service.json_bodies import JsonBodyRoute
from service.logging_config import in_request_context
from service.negotiation import JSON_MEDIA_TYPE, parse_accept, quality
from service.openapi import RETRY_AFTER_HEADER, problem_example
from service.path_params import ModelNameParam, VersionParam
from service.resolution import VersionResolver
from service.schemas import check_version_path
from service.schemas_diagnostics import GradientFlowResponse, TrainingGradientsResponse
from service.settings import Settings

router = APIRouter(tags=["diagnostics"], route_class=JsonBodyRoute)

PNG = "image/png"
PNG_CONTENT = {
    PNG: {
        "schema": {"type": "string", "format": "binary"},
        "example": "(PNG image bytes)",
    }
}
# nginx's status for a request whose client closed the connection. Only the
# access log and the metrics see it.
CLIENT_CLOSED_REQUEST = 499
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown model or version"},
    422: {"description": "Invalid spec, or seq_len or hidden_size above its limit"},
    503: {
        "description": "The diagnostics queue is full, or the server is shutting "
        "down while the request body arrives",
        "headers": {"Retry-After": RETRY_AFTER_HEADER},
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "example": problem_example(
                    503,
                    "the diagnostics queue is full: 1 running and 4 waiting, the "
                    "maximum that RNN_FORECAST_MAX_QUEUED_DIAGNOSTICS sets; retry "
                    "after 7 s",
                )
            }
        },
    },
}
FLOW_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Gradient norms per step as JSON, or their plot as PNG",
        "content": PNG_CONTENT,
    },
    **ERROR_RESPONSES,
}
PNG_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "PNG plot", "content": PNG_CONTENT},
    **ERROR_RESPONSES,
}


class PNGResponse(Response):
    media_type = PNG


def prefers_png(accept: str | None) -> bool:
    """Return True when the Accept header gives image/png a higher quality
    than application/json (``service.negotiation``). JSON wins ties, so a
    missing header or ``*/*`` gets JSON."""
    ranges = parse_accept(accept or "")
    return quality(ranges, PNG) > quality(ranges, JSON_MEDIA_TYPE)


@router.post(
    "/diagnostics/gradient-flow",
    response_model=GradientFlowResponse,
    responses=FLOW_RESPONSES,
    summary="Gradient norms through time of a fresh network or a stored version",
)
async def gradient_flow(
    body: GradientFlowSpec,
    request: Request,
    settings: SettingsDep,
    cache: CacheDep,
    queue: DiagnosticsQueueDep,
    resolver: ResolverDep,
) -> Any:
    if prefers_png(", ".join(request.headers.getlist("accept"))):
        return await _png_response(body, request, settings, cache, queue, resolver)

    version = _stored_version(body, resolver)
    work = in_request_context(_flow, body, version, settings, cache)
    try:
        flow = await queue.run(request, work)
    except ClientDisconnectedError:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return flow.to_dict()


@router.post(
    "/diagnostics/gradient-flow.png",
    response_class=PNGResponse,
    responses=PNG_RESPONSES,
    summary="Plot of the gradient norms through time, as PNG",
)
async def gradient_flow_png(
    body: GradientFlowSpec,
    request: Request,
    settings: SettingsDep,
    cache: CacheDep,
    queue: DiagnosticsQueueDep,
    resolver: ResolverDep,
) -> Response:
    return await _png_response(body, request, settings, cache, queue, resolver)


async def _png_response(
    body: GradientFlowSpec,
    request: Request,
    settings: Settings,
    cache: ModelCache,
    queue: DiagnosticsQueue,
    resolver: VersionResolver,
) -> Response:
    version = _stored_version(body, resolver)
    work = in_request_context(_flow_png, body, version, settings, cache)
    try:
        image = await queue.run(request, work)
    except ClientDisconnectedError:
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return PNGResponse(content=image)


def _stored_version(body: GradientFlowSpec, resolver: VersionResolver) -> int | None:
    """Resolve the version that ``body.model`` names once, before the work
    starts, so that an alias moving meanwhile cannot change it."""
    if body.model is None:
        return None
    return resolver.resolve(body.model.name, body.model.version)


NO_GRADIENTS = "Unknown model or version, or a version without a training history"


@router.get(
    "/models/{name}/versions/{version}/gradients",
    response_model=TrainingGradientsResponse,
    responses={404: {"description": NO_GRADIENTS}},
    summary="Gradient norms and clipping recorded per training epoch",
)
def get_training_gradients(
    name: ModelNameParam, version: VersionParam, registry: RegistryDep
) -> dict[str, Any]:
    check_name(name)
    number = registry.resolve(name, check_version_path(version))
    return training_gradients(registry.metadata(name, number))


@router.get(
    "/models/{name}/versions/{version}/gradients.png",
    response_class=PNGResponse,
    responses={
        **NOT_MODIFIED,
        200: {
            "description": "PNG plot",
            "content": PNG_CONTENT,
            "headers": ETAG_HEADERS,
        },
        404: {"description": NO_GRADIENTS},
    },
    summary="Plot of the gradient norms recorded per training epoch, as PNG",
)
def get_training_gradients_png(
    name: ModelNameParam,
    version: VersionParam,
    registry: RegistryDep,
    request: Request,
) -> Response:
    # matplotlib loads on first use, which keeps it out of the start-up time
    from models.plots import png_bytes, training_gradients_figure

    check_name(name)
    number = registry.resolve(name, check_version_path(version))
    record = training_gradients(registry.metadata(name, number))
    title = f"{name}:{number} ({record['cell']}): gradient norm per epoch"

    # A version never changes, so the tag hashes its gradient record and the
    # title. The tag is weak because another matplotlib may draw other bytes.
    source = json.dumps([title, record], sort_keys=True, default=str).encode()
    tag = "W/" + content_etag(source)
    if matches(request, tag):
        return Response(status_code=304, headers={"ETag": tag})

    figure = training_gradients_figure(record["epochs"], record["clip_norm"], title)
    return PNGResponse(content=png_bytes(figure), headers={"ETag": tag})


def _flow(
    body: GradientFlowSpec,
    version: int | None,
    settings: Settings,
    cache: ModelCache,
    should_stop: StopCheck,
) -> GradientFlow:
    stored = None
    if body.model is not None and version is not None:
        stored = cache.get(body.model.name, version, GRADIENT_FLOW)
    return compute_gradient_flow(
        body, stored=stored, limits=settings.limits(), should_stop=should_stop
    )


def _flow_png(
    body: GradientFlowSpec,
    version: int | None,
    settings: Settings,
    cache: ModelCache,
    should_stop: StopCheck,
) -> bytes:
    # matplotlib loads on first use, which keeps it out of the start-up time
    from models.plots import GradientCurve, gradient_flow_figure, png_bytes

    flow = _flow(body, version, settings, cache, should_stop)
    network = flow.network
    label = network["cell"]
    if network["model"] is not None:
        label = f"{network['model']['name']}:{network['model']['version']} {label}"
    title = (
        f"{label}, H = {network['hidden_size']}, T = {network['seq_len']}, "
        f"rate per step {_rate_text(flow)}"
    )
    figure = gradient_flow_figure([GradientCurve.from_flow(label, flow)], title)
    return png_bytes(figure)


def _rate_text(flow: GradientFlow) -> str:
    rate = flow.trace.summary.rate_per_step
    return "n/a" if rate is None else f"{rate:.3g}"
