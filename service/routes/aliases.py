"""``PUT /v1/models/{name}/aliases/{alias}``: point an alias at a version.

The registry replaces its alias file atomically, and a forecast resolves the
alias once, so every forecast by alias comes wholly from the old version or
wholly from the new one.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from models.errors import NotFoundError
from models.registry import check_alias, check_name
from service.auth import ApiKeyDep
from service.deps import RegistryDep

router = APIRouter(tags=["models"])


class AliasRequest(BaseModel):
    """Body of the alias update."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"version": 3}]}
    )

    version: int = Field(strict=True, ge=1, description="An existing version number")


class AliasOut(BaseModel):
    """An alias after the update."""

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


@router.put(
    "/models/{name}/aliases/{alias}",
    response_model=AliasOut,
    dependencies=[ApiKeyDep],
    responses={
        401: {"description": "Missing X-API-Key"},
        403: {"description": "Wrong X-API-Key"},
        404: {"description": "Unknown model or version"},
        422: {"description": "Invalid alias name, or 'latest'"},
    },
    summary="Point an alias (e.g. production) at a version",
)
def set_alias(
    name: str, alias: str, body: AliasRequest, registry: RegistryDep
) -> AliasOut:
    check_name(name)
    check_alias(alias)
    if not registry.versions(name):
        raise NotFoundError(f"model {name!r} not found", field="name")
    registry.set_alias(name, alias, body.version)
    return AliasOut(
        name=name, alias=alias, version=body.version, aliases=registry.aliases(name)
    )
