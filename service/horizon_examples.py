"""The whole number that a 422 suggests for a float sent as a forecast's
horizon, within the limit that the server applies after validation.

``INTEGER_ONLY`` suggests the float without its fraction, moved into the
field's range of 1 to ``DEFAULT_LIMITS.max_horizon``. The forecast route
then also rejects a horizon above ``RNN_FORECAST_MAX_HORIZON`` and above the
number of steps that the requested version forecasts. ``bound_horizon_examples``
lowers the suggestion to the smaller of the two, so that a client who sends
the suggested value gets no second horizon error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from models.errors import RnnForecastError
from models.field_types import whole_example
from service.routes.forecast import forecast
from service.serving import Serving

logger = logging.getLogger(__name__)

# the location of the horizon in the body of POST /v1/models/{name}/forecast
HORIZON_LOC = ("body", "horizon")


async def bound_horizon_examples(
    request: Request, raw_errors: Sequence[Mapping[str, Any]], body: Any
) -> list[Mapping[str, Any]]:
    """Return ``raw_errors``, the pydantic errors of a request with the JSON
    ``body``, with the suggested whole number of a forecast's horizon
    lowered to ``horizon_limit``. Errors of other routes and fields come
    back unchanged."""
    errors = list(raw_errors)
    if not _is_forecast(request):
        return errors
    positions = [
        index
        for index, error in enumerate(errors)
        if tuple(error.get("loc", ())) == HORIZON_LOC
        and whole_example(error) is not None
    ]
    if not positions:
        return errors

    name = request.path_params.get("name")
    serving: Serving = request.app.state.serving
    limit = await run_in_threadpool(horizon_limit, serving, name, body)
    for index in positions:
        error = errors[index]
        example = whole_example(error)
        if example is not None and example > limit:
            context = {**(error.get("ctx") or {}), "example": limit}
            errors[index] = {**error, "ctx": context}
    return errors


def horizon_limit(serving: Serving, name: Any, body: Any) -> int:
    """Return the highest horizon that a forecast of the model ``name`` at
    the body's version may request: ``RNN_FORECAST_MAX_HORIZON``, or the
    version's own horizon when that is smaller. A name or version that does
    not resolve leaves the setting alone, because the forecast fails on it
    before the horizon matters."""
    limit = serving.settings.max_horizon
    ref = body.get("version", "latest") if isinstance(body, dict) else "latest"
    if not isinstance(name, str) or not isinstance(ref, int | str):
        return limit
    if isinstance(ref, bool):  # the schema rejects a boolean version
        return limit
    try:
        version, stamp = serving.resolver.resolve_stamped(name, ref)
        loaded = serving.cache.peek(name, version, stamp)
        if loaded is not None:
            steps = loaded.horizon
        else:
            steps = serving.resolver.registry.metadata(name, version)["spec"]["horizon"]
    except (RnnForecastError, OSError) as exc:
        logger.debug("horizon example of %s:%s uses the setting: %s", name, ref, exc)
        return limit
    return min(limit, int(steps))


def _is_forecast(request: Request) -> bool:
    """Return whether ``request`` matched the forecast route."""
    route = request.scope.get("route")
    return getattr(route, "endpoint", None) is forecast
