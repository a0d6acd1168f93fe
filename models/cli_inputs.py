"""Command-line values that name something to read: JSON files given to an
option, and stored versions written as ``NAME[:VERSION]``.

Each error names the option and the value and gives the fix, so that the
command line can print it as its one ``error:`` line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from models.json_surrogates import UNPAIRED_SURROGATE_MESSAGE, unpaired_surrogate_path

JSON_TYPE_NAMES = {dict: "object", list: "array"}


class RepeatedKeyError(ValueError):
    """A JSON object that has the key ``key`` more than once."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} appears more than once")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build the dict of one JSON object from its ``pairs``. Raise
    ``RepeatedKeyError`` for a key given twice, because ``json.loads`` would
    keep only its last value."""
    value = dict(pairs)
    if len(value) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RepeatedKeyError(key)
            seen.add(key)
    return value


def read_json_file(option: str, path: Path, expected: type, content: str) -> Any:
    """Read the JSON file ``path`` that ``option`` names, whose top level
    must be of the type ``expected`` (``dict`` or ``list``).

    ``content`` describes the expected content in messages, such as ``spec
    fields``. Raises ``ValueError`` naming the option and the file when it
    cannot be read, is not JSON, repeats a key in one object, has a string
    with a lone surrogate, or contains another type at the top level.
    """
    try:
        # utf-8-sig also reads files that an editor saved with a byte order mark
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(
            f"{option} {path}: cannot read the file ({exc.strerror or exc}); "
            "check the path"
        ) from None
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{option} {path}: the file is not UTF-8 text (invalid byte at offset "
            f"{exc.start}); save it as UTF-8 JSON"
        ) from None
    try:
        value = json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{option} {path}: invalid JSON at line {exc.lineno}, column "
            f"{exc.colno}: {exc.msg}"
        ) from None
    except RepeatedKeyError as exc:
        raise ValueError(
            f"{option} {path}: the key {exc.key!r} appears twice in one JSON "
            "object, and only the last value would be read; write each key once"
        ) from None
    unpaired = unpaired_surrogate_path(text, value)
    if unpaired is not None:
        raise ValueError(f"{option} {path}: {unpaired}: {UNPAIRED_SURROGATE_MESSAGE}")
    if not isinstance(value, expected):
        raise ValueError(
            f"{option} {path}: expected a JSON {JSON_TYPE_NAMES[expected]} of "
            f"{content}, got {type(value).__name__}"
        )
    return value


def split_version_ref(label: str, ref: str) -> tuple[str, str]:
    """Split ``NAME[:VERSION]`` into the name and the version, ``latest``
    when none is given.

    ``label`` names the option or argument in messages, such as
    ``--model``.
    Raises ``ValueError`` for a ``:`` with nothing after it, which would
    otherwise read as ``latest`` without saying so.
    """
    name, colon, version = ref.partition(":")
    if colon and not version:
        raise ValueError(
            f"{label} {ref!r} has no version after ':'; write {name or 'NAME'} "
            f"for the latest version, or {name or 'NAME'}:VERSION with a "
            "version number or an alias"
        )
    return name, version or "latest"


def input_path(text: str) -> Path:
    """Parse the value of an option that names a file to read.

    Raises ``argparse.ArgumentTypeError`` for an empty or blank value, which
    ``Path`` would otherwise read as the current folder, as ``output_path``
    does.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("the path is empty; give the file to read")
    return Path(text)


def output_path(text: str) -> Path:
    """Parse the value of an option that names a file or folder to write.

    Raises ``argparse.ArgumentTypeError`` for an empty value, which
    ``Path`` would otherwise read as the current folder.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "the path is empty; give the file or folder to write"
        )
    return Path(text)
