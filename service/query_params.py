"""Query parameters that take one value, and query parameters that a route
does not declare.

Starlette keeps every value of a repeated parameter, and FastAPI reads the
last one for a parameter that is no list, so ``?limit=2&limit=3`` would
silently mean ``limit=3``. The list routes reject a repeated single-valued
parameter instead.

FastAPI ignores a query parameter that the route does not declare, so
``POST /v1/diagnostics/gradient-flow?seq_len=3`` would run with the body's
``seq_len``, and ``GET /v1/jobs?state=failed`` would list jobs of every
status. ``UnknownQueryCheck``, a dependency of the whole app, rejects such a
parameter on every route that takes a JSON body, and on every route under
the API's prefix except the ones it leaves open, such as the health check.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant, ModelField
from fastapi.routing import APIRoute
from pydantic import BaseModel

from models.errors import InvalidInputError
from models.quoted_ids import quoted
from service.links import route_path

# the single-valued query parameters of every paged list
PAGE_PARAMETERS = ("limit", "cursor")


def check_single_values(request: Request, names: tuple[str, ...]) -> None:
    """Raise ``InvalidInputError`` on ``query.NAME`` for the first of
    ``names`` that the query of ``request`` gives more than once."""
    for name in names:
        values = request.query_params.getlist(name)
        if len(values) > 1:
            listed = ", ".join(quoted(value) for value in values[:3])
            raise InvalidInputError(
                f"query parameter {name!r} is given {len(values)} times "
                f"({listed}{', ...' if len(values) > 3 else ''}); give it once",
                field=f"query.{name}",
            )


def single_values(*names: str) -> Callable[[Request], Awaitable[None]]:
    """Return a route dependency that runs ``check_single_values``."""

    async def check(request: Request) -> None:
        check_single_values(request, names)

    return check


# the dependency of the paged list routes
SinglePageValues = Depends(single_values(*PAGE_PARAMETERS))


class UnknownQueryCheck:
    """The app dependency that raises ``InvalidInputError`` on
    ``query.NAME`` for the first query parameter that the matched route does
    not declare, when the route checks its query (``checks``)."""

    def __init__(
        self, prefix: str | None = None, open_paths: Collection[str] = ()
    ) -> None:
        """Check the routes that take a JSON body and, when ``prefix`` (such
        as ``/v1``) is given, every route under it whose path is not one of
        ``open_paths``."""
        self.prefix = prefix
        self.open_paths = frozenset(open_paths)

    def checks(self, path: str, takes_body: bool) -> bool:
        """Return whether the route at ``path`` (without the root path),
        which takes a body when ``takes_body``, rejects undeclared
        query parameters. The prefix is matched on the path rather than on
        the route, whose ``path`` FastAPI keeps without the prefix of the
        router that includes it."""
        if takes_body:
            return True
        if self.prefix is None or path in self.open_paths:
            return False
        return path.startswith(f"{self.prefix}/")

    async def __call__(self, request: Request) -> None:
        route = request.scope.get("route")
        if not request.query_params or not isinstance(route, APIRoute):
            return
        if not self.checks(route_path(request.scope), takes_body(route)):
            return
        declared = declared_query_names(route)
        for name in request.query_params:
            if name not in declared:
                raise InvalidInputError(
                    unknown_query_message(name, declared, body_field_names(route)),
                    field=f"query.{name}",
                )


def unknown_query_message(
    name: str, declared: frozenset[str], body_fields: frozenset[str]
) -> str:
    """Explain the query parameter ``name`` that a route with the query
    parameters ``declared`` and the top-level body fields ``body_fields``
    does not take."""
    start = f"query parameter {quoted(name)} is not accepted"
    if name in body_fields:
        return f"{start}; {name!r} belongs in the JSON body, so send it there"
    if declared:
        return f"{start}; the query parameters here are {', '.join(sorted(declared))}"
    return f"{start}, because this route takes no query parameters; leave it out"


def takes_body(route: APIRoute) -> bool:
    """Return True when ``route`` takes a JSON body model, or declares in
    ``openapi_extra`` a request body that it reads itself."""
    extra = route.openapi_extra or {}
    return route.body_field is not None or "requestBody" in extra


def declared_query_names(route: APIRoute) -> frozenset[str]:
    """Return the names of the query parameters that ``route`` and its
    dependencies declare."""
    return frozenset(field.alias for field in query_fields(route.dependant))


def query_fields(dependant: Dependant) -> list[ModelField]:
    """Return the query parameters that ``dependant`` and its dependencies
    declare."""
    fields = list(dependant.query_params)
    for sub in dependant.dependencies:
        fields += query_fields(sub)
    return fields


def body_field_names(route: APIRoute) -> frozenset[str]:
    """Return the top-level field names of the JSON body model of ``route``,
    or none when its body is no pydantic model."""
    field = route.body_field
    annotation = field.field_info.annotation if field is not None else None
    names: set[str] = set()
    for member in _union_members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            for key, info in member.model_fields.items():
                names.add(info.alias or key)
    return frozenset(names)


def _union_members(annotation: object) -> tuple[object, ...]:
    """Return the members of a union such as ``TrainingSpec | None``, or
    ``annotation`` alone."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def query_check(app_dependencies: Sequence[Any]) -> UnknownQueryCheck | None:
    """Return the ``UnknownQueryCheck`` among the dependencies of an app,
    or None when it has none."""
    for dependency in app_dependencies:
        check = getattr(dependency, "dependency", None)
        if isinstance(check, UnknownQueryCheck):
            return check
    return None


# a dependency that checks the query of the routes that take a JSON body
UnknownQueryDep = Depends(UnknownQueryCheck())
