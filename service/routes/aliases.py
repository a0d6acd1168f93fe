"""``/v1/models/{name}/aliases/{alias}``: read an alias, point it at a
version, or delete it.

The registry replaces its alias file atomically, and a forecast resolves the
alias once, so every forecast by alias comes wholly from the old version or
wholly from the new one. An alias's ETag names the version it points at, so
``If-Match`` on a PUT moves the alias only from the version the client saw,
and ``If-None-Match: *`` creates an alias but never moves one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from models.errors import ConflictError, NotFoundError
from models.registry import check_alias, check_name
from models.version_refs import MAX_VERSION, version_number_error
from service.auth import ApiKeyDep
from service.deps import RegistryDep
from service.etag import NOT_MODIFIED, json_with_etag, tagged
from service.json_bodies import JsonBodyRoute
from service.links import public_path
from service.path_params import AliasParam, ModelNameParam, SettableAliasParam
from service.preconditions import Preconditions, PreconditionsDep

router = APIRouter(tags=["models"], route_class=JsonBodyRoute)

# the responses that every alias write declares
WRITE_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing X-API-Key"},
    403: {"description": "Wrong X-API-Key"},
    422: {"description": "Invalid alias name, or 'latest'"},
}


def _check_version_number(value: Any) -> int:
    """Return ``value`` if it is a JSON integer from 1 to ``MAX_VERSION``.
    Otherwise raise ``ValueError`` in the wording of version paths, so that
    pydantic's own ``ge`` and ``le`` messages never appear."""
    error = version_number_error(value)
    if error is not None:
        raise ValueError(error)
    return int(value)


class AliasRequest(BaseModel):
    """Body of the alias update."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"version": 3}]}
    )

    version: Annotated[int, BeforeValidator(_check_version_number)] = Field(
        ge=1,
        le=MAX_VERSION,
        description="An existing version number",
    )


class AliasRef(BaseModel):
    """An alias and the version it points at."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "nflx", "alias": "production", "version": 3}]
        }
    )

    name: str
    alias: str
    version: int


class AliasOut(BaseModel):
    """An alias after an update or a delete: the version it points at (or
    pointed at), and every alias of the model after the change."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "nflx",
                    "alias": "production",
                    "version": 3,
                    "aliases": {"production": 3, "latest": 4},
                }
            ]
        }
    )

    name: str
    alias: str
    version: int
    aliases: dict[str, int] = Field(description="Every alias of the model after")


def alias_etag(version: int) -> str:
    """Return the ETag of an alias that points at ``version``."""
    return f'"version-{version}"'


def precondition(conditions: Preconditions) -> Callable[[int | None], None]:
    """Return the registry's check of an alias write: ``conditions`` against
    the ETag of the version the alias points at now (None when absent)."""

    def check(current: int | None) -> None:
        conditions.check(None if current is None else alias_etag(current))

    return check


@router.get(
    "/models/{name}/aliases/{alias}",
    response_model=AliasRef,
    responses={
        404: {"description": "Unknown model or alias"},
        409: {
            "description": "The alias points at a version that no longer "
            "exists; PUT it to an existing version or DELETE it"
        },
        **NOT_MODIFIED,
    },
    summary="The version an alias points at, with its ETag",
)
def get_alias(
    name: ModelNameParam, alias: AliasParam, request: Request, registry: RegistryDep
) -> Response:
    """An alias whose version folder has been deleted gets 409, which names
    the alias, the missing version and the fix."""
    check_name(name)
    check_alias(alias)
    aliases = registry.aliases(name)
    if alias not in aliases:
        raise NotFoundError(
            f"model {name!r} has no alias {alias!r}; aliases are "
            f"{sorted(aliases)}, and PUT creates one",
            field="alias",
        )
    version = aliases[alias]
    versions = registry.versions(name)
    if version not in versions:
        path = public_path(request, f"/v1/models/{name}/aliases/{alias}")
        raise ConflictError(dangling_alias_message(alias, version, versions, path))
    found = AliasRef(name=name, alias=alias, version=version)
    return json_with_etag(request, found.model_dump(), etag=alias_etag(version))


def dangling_alias_message(
    alias: str, version: int, versions: list[int], path: str
) -> str:
    """Explain that ``alias``, at ``path``, points at ``version``, which is
    not among the existing ``versions`` of its model, and how to repair it."""
    return (
        f"alias {alias!r} points at version {version}, which does not exist "
        f"any more; versions are {versions}. PUT {path} with "
        f'{{"version": {versions[-1]}}} or another existing version, or '
        "DELETE the alias"
    )


@router.put(
    "/models/{name}/aliases/{alias}",
    response_model=AliasOut,
    dependencies=[ApiKeyDep],
    responses={
        **WRITE_RESPONSES,
        **tagged(200),
        404: {"description": "Unknown model or version"},
        409: {"description": "The version's metadata cannot be read"},
        412: {
            "description": "If-Match or If-None-Match failed; ETag has the "
            "alias's current tag"
        },
    },
    summary="Point an alias (e.g. production) at a version",
)
def set_alias(
    name: ModelNameParam,
    alias: SettableAliasParam,
    body: AliasRequest,
    request: Request,
    registry: RegistryDep,
    conditions: PreconditionsDep,
) -> Response:
    """The response carries the alias's new `ETag`, for the `If-Match` of
    the next update."""
    check_name(name)
    check_alias(alias)
    if not registry.versions(name):
        raise NotFoundError(f"model {name!r} not found", field="name")

    aliases = registry.set_alias(name, alias, body.version, precondition(conditions))
    changed = AliasOut(name=name, alias=alias, version=body.version, aliases=aliases)
    return json_with_etag(request, changed.model_dump(), etag=alias_etag(body.version))


@router.delete(
    "/models/{name}/aliases/{alias}",
    response_model=AliasOut,
    dependencies=[ApiKeyDep],
    responses={
        **WRITE_RESPONSES,
        404: {"description": "Unknown model or alias"},
        412: {"description": "If-Match failed; ETag has the alias's current tag"},
    },
    summary="Delete an alias; its version stays",
)
def delete_alias(
    name: ModelNameParam,
    alias: SettableAliasParam,
    registry: RegistryDep,
    conditions: PreconditionsDep,
) -> AliasOut:
    check_name(name)

    version, aliases = registry.delete_alias(name, alias, precondition(conditions))
    return AliasOut(name=name, alias=alias, version=version, aliases=aliases)
