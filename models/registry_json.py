"""Parsing of the JSON files in the registry (``metadata.json`` and
``aliases.json``), which a person can edit by hand.

``json.loads`` fails in more ways than ``JSONDecodeError``: bytes that are
not UTF-8 raise ``UnicodeDecodeError``, an integer of more digits than
``sys.get_int_max_str_digits()`` raises a plain ``ValueError`` and arrays
nested about a thousand deep raise ``RecursionError``. ``parse_registry_json``
raises one ``ValueError`` with a short reason for each of them. It also
rejects documents nested deeper than ``MAX_DEPTH``, because those parse but
can exceed the recursion limit of a recursive encoder of the response.
"""

from __future__ import annotations

import json
import sys
from typing import Any

# Training writes metadata 6 levels deep (metrics.test.baselines.<name>.rmse),
# so 32 leaves room for fields added later.
MAX_DEPTH = 32


def parse_registry_json(raw: bytes | str) -> Any:
    """Return the parsed document ``raw``; raise ``ValueError`` with a short
    reason when it is not UTF-8 JSON of at most ``MAX_DEPTH`` levels."""
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    except RecursionError as exc:
        raise ValueError(_too_deep()) from exc
    except ValueError as exc:
        # The other ValueError of json.loads is an integer of too many digits.
        limit = sys.get_int_max_str_digits()
        raise ValueError(f"a number has more than {limit} digits") from exc
    if _depth(document) > MAX_DEPTH:
        raise ValueError(_too_deep())
    return document


def _too_deep() -> str:
    return f"arrays or objects are nested more than {MAX_DEPTH} levels deep"


def _depth(document: Any) -> int:
    """Return how many arrays and objects deep ``document`` nests, counted
    without recursion so that any depth that parsed can be measured."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, level + 1)
            stack.extend((item, level + 1) for item in value)
    return deepest
