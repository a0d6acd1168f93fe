"""The path parameters of the routes, with the pattern that the OpenAPI
document declares for each.

The routes check ``name``, ``alias`` and ``version`` themselves
(``check_name``, ``check_alias``, ``check_settable_alias`` and
``check_version_path``) and return 422 with the rule in words. A
``series_id`` or ``job_id`` that breaks its pattern names no stored series
or job, so it gets the 404 of an unknown id, whose message gives the form
of the ids. FastAPI would check a ``pattern`` given to ``Path`` with its own
422 message instead, so each pattern goes into the JSON schema only, through
``json_schema_extra``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

from models.errors import InvalidInputError
from models.names import NAME_PATTERN
from models.registry import LATEST, check_alias, check_name, check_settable_alias
from models.version_refs import ALIAS_PATTERN, MAX_VERSION, VERSION_REF_PATTERN
from service.jobs.store import JOB_ID_PATTERN
from service.schemas import check_version_path
from service.series_store import SERIES_ID_PATTERN

ModelNameParam = Annotated[
    str,
    Path(
        description="Model name: 1-64 characters of a-z, 0-9, '_' and '-', "
        "starting with a letter or digit",
        json_schema_extra={"pattern": NAME_PATTERN},
    ),
]
AliasParam = Annotated[
    str,
    Path(
        description="Alias: 1-64 characters of a-z, 0-9, '_' and '-', "
        "starting with a letter",
        json_schema_extra={"pattern": ALIAS_PATTERN},
    ),
]
VersionParam = Annotated[
    str,
    Path(
        description=f"A version number from 1 to {MAX_VERSION}, leading zeros "
        "allowed, or an alias",
        json_schema_extra={"pattern": VERSION_REF_PATTERN},
    ),
]
# PUT and DELETE take every alias but 'latest', which always means the
# highest version
SettableAliasParam = Annotated[
    str,
    Path(
        description="Alias: 1-64 characters of a-z, 0-9, '_' and '-', "
        "starting with a letter, other than 'latest'",
        json_schema_extra={"pattern": ALIAS_PATTERN, "not": {"const": LATEST}},
    ),
]
JobIdParam = Annotated[
    str,
    Path(
        description="Job id: 32 lowercase hex characters, as the job's "
        "submission returned it",
        json_schema_extra={"pattern": JOB_ID_PATTERN},
    ),
]
SeriesIdParam = Annotated[
    str,
    Path(
        description="Series id: 32 lowercase hex characters, as the upload returned it",
        json_schema_extra={"pattern": SERIES_ID_PATTERN},
    ),
]


def path_errors(request: Request) -> list[dict[str, str]]:
    """Return the 422 errors of the ``name``, ``alias`` and ``version`` path
    parameters of ``request``, one ``{field, message, type}`` per invalid one.

    The routes check these parameters only once FastAPI has validated the
    body and the query, so a response to an invalid body adds them here to
    list every field at fault."""
    errors = []
    for parameter in ("name", "alias", "version"):
        value = request.path_params.get(parameter)
        if not isinstance(value, str):
            continue
        try:
            _check_path_value(parameter, value, request.method)
        except InvalidInputError as exc:
            field = exc.field or parameter
            errors.append({"field": field, "message": exc.message, "type": "invalid"})
    return errors


def _check_path_value(parameter: str, value: str, method: str) -> None:
    """Raise ``InvalidInputError`` when ``value`` is invalid for the path
    parameter ``parameter`` of a request with ``method``, as the route
    would."""
    if parameter == "name":
        check_name(value)
    elif parameter == "version":
        check_version_path(value)
    elif method in ("PUT", "DELETE"):
        check_settable_alias(value, deleting=method == "DELETE")
    else:
        check_alias(value)
