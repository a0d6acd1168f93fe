"""The path parameters ``name``, ``alias`` and ``version`` of the routes,
with the pattern that the OpenAPI document declares for each.

The routes check these values themselves (``check_name``, ``check_alias``
and ``check_version_path``) and return 422 with the rule in words. FastAPI
would check a ``pattern`` given to ``Path`` with its own message instead, so
each pattern goes into the JSON schema only, through ``json_schema_extra``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from models.names import NAME_PATTERN
from models.version_refs import ALIAS_PATTERN, MAX_VERSION, VERSION_REF_PATTERN

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
