"""The params schema of a job kind as HTTP accepts it.

A kind's params model also serves the command line, which may read local
files and choose its study storage. ``GET /v1/job-kinds`` advertises the
model's JSON schema without the data sources and fields that a job submitted
over HTTP is rejected for.
"""

from __future__ import annotations

from typing import Any

from service.data_sources import HTTP_SOURCES
from service.jobs.kinds import JobKind

DEFS_PREFIX = "#/$defs/"


def http_params_schema(kind: JobKind) -> dict[str, Any]:
    """Return the JSON schema of ``kind``'s params without its
    ``server_fields`` and without the data sources outside ``HTTP_SOURCES``."""
    schema = kind.params_model.model_json_schema()
    properties = schema.get("properties", {})
    for name in kind.server_fields:
        properties.pop(name, None)
    dropped = drop_sources(schema)
    definitions = schema.get("$defs", {})
    for name in dropped:
        definitions.pop(name, None)
    return schema


def drop_sources(node: Any) -> set[str]:
    """Remove the data sources outside ``HTTP_SOURCES`` from every union
    with a ``source`` discriminator in ``node``, in place, and return the
    names of the definitions that those sources referred to."""
    dropped: set[str] = set()
    if isinstance(node, list):
        for item in node:
            dropped |= drop_sources(item)
        return dropped
    if not isinstance(node, dict):
        return dropped

    discriminator = node.get("discriminator")
    if (
        isinstance(discriminator, dict)
        and discriminator.get("propertyName") == "source"
    ):
        mapping = discriminator.get("mapping", {})
        rejected = {
            ref for source, ref in mapping.items() if source not in HTTP_SOURCES
        }
        discriminator["mapping"] = {
            source: ref for source, ref in mapping.items() if ref not in rejected
        }
        node["oneOf"] = [
            option
            for option in node.get("oneOf", [])
            if option.get("$ref") not in rejected
        ]
        dropped |= {ref.removeprefix(DEFS_PREFIX) for ref in rejected}
    for value in node.values():
        dropped |= drop_sources(value)
    return dropped
