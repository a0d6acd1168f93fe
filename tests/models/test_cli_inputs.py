"""Command-line inputs: JSON files named by an option, ``NAME[:VERSION]``
references, and the fix that a failed bind of ``serve`` names."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from models.cli import bind_fix, build_parser, chosen_host
from models.cli_evaluation import space_file
from models.cli_inputs import read_json_file, split_version_ref
from models.tuning import SearchSpace


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "--space {path}: cannot read the file (No such file or directory)"),
        (b'{"cells": [', "--space {path}: invalid JSON at line 1, column 12"),
        (b"[1, 2]", "--space {path}: expected a JSON object of search space"),
        (b"\xff{}", "--space {path}: the file is not UTF-8 text (invalid byte at"),
        (
            b'{"cells": ["gru"], "cells": ["rnn"]}',
            "--space {path}: the key 'cells' appears twice in one JSON object, and "
            "only the last value would be read; write each key once",
        ),
        (
            b'{"a": {"b": 1, "b": 2}}',
            "--space {path}: the key 'b' appears twice in one JSON object",
        ),
    ],
)
def test_json_file_errors_name_option(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "space.json"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(ValueError) as caught:
        read_json_file("--space", path, dict, "search space fields")

    assert str(caught.value).startswith(expected.format(path=path))


SURROGATE_FIX = (
    "the string contains an unpaired UTF-16 surrogate escape (\\ud800 to "
    "\\udfff), which is not a Unicode character; send the character itself, "
    "or both halves of its surrogate pair such as \\ud83d\\ude00"
)


@pytest.mark.parametrize(
    ("content", "expected", "field"),
    [
        (b'{"epochs": "\\ud800"}', dict, "epochs"),
        (b'{"data": {"source": "x\\udfff"}}', dict, "data.source"),
        (b'{"a\\udc00": 1}', dict, "a\\udc00"),
        (b'[{"date": "2020-12-10"}, {"date": "\\ud800"}]', list, "[1].date"),
    ],
)
def test_json_file_unpaired_surrogate_named(
    tmp_path: Path, content: bytes, expected: type, field: str
) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)

    with pytest.raises(ValueError) as caught:
        read_json_file("--spec", path, expected, "spec fields")

    assert str(caught.value) == f"--spec {path}: {field}: {SURROGATE_FIX}"


def test_json_file_surrogate_pair_read(tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(b'{"name": "\\ud83d\\ude00"}')

    assert read_json_file("--spec", path, dict, "spec fields") == {"name": "\U0001f600"}


def test_space_file_errors_name_file(tmp_path: Path) -> None:
    path = tmp_path / "space.json"
    path.write_text('{"hidden_size": [10, 5], "depth": 2}')

    with pytest.raises(ValueError) as caught:
        space_file(path)

    assert str(caught.value) == (
        f"--space {path}: hidden_size: hidden_size range (10, 5) has low above "
        f"high; give the lower bound first; --space {path}: depth: Extra inputs "
        "are not permitted; remove the field or correct its spelling. The "
        "accepted fields are batch_size, cells, clip_norm, dropout, hidden_size, "
        "learning_rate, lookback, num_layers"
    )


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ('"8"', "the string '8'"),
        ('{"low": 4, "high": 8}', "an object"),
        ("8", "the number 8"),
        ("null", "null"),
        ("[8]", "a list of 1"),
    ],
)
def test_space_range_names_value_sent(tmp_path: Path, value: str, sent: str) -> None:
    path = tmp_path / "space.json"
    path.write_text(f'{{"hidden_size": {value}}}')

    with pytest.raises(ValueError) as caught:
        space_file(path)

    assert str(caught.value) == (
        f"--space {path}: hidden_size: hidden_size must be a range [low, high] of "
        f"two numbers, not {sent}; send two numbers such as [8, 128]"
    )


def test_space_file_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "space.json"
    path.write_text('{"cells": ["gru"], "hidden_size": [4, 8]}')

    space = space_file(path)

    assert space == SearchSpace(cells=["gru"], hidden_size=(4, 8))
    assert space.model_fields_set == {"cells", "hidden_size"}


def test_json_file_array_is_read(tmp_path: Path) -> None:
    path = tmp_path / "values.json"
    path.write_text("[[1, 2], [3, 4]]")

    assert read_json_file("--values", path, list, "input values") == [[1, 2], [3, 4]]


def test_json_file_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_bytes(b'\xef\xbb\xbf{"epochs": 2}')

    assert read_json_file("--spec", path, dict, "spec fields") == {"epochs": 2}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("nflx", ("nflx", "latest")),
        ("nflx:3", ("nflx", "3")),
        ("a:prod", ("a", "prod")),
    ],
)
def test_version_ref_split(ref: str, expected: tuple[str, str]) -> None:
    assert split_version_ref("--model", ref) == expected


def test_version_ref_without_version_rejected() -> None:
    with pytest.raises(ValueError) as caught:
        split_version_ref("models show", "nflx:")

    assert str(caught.value) == (
        "models show 'nflx:' has no version after ':'; write nflx for the latest "
        "version, or nflx:VERSION with a version number or an alias"
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "'999.1.1.1' is not an address of this machine; choose one with --host",
        ),
        (
            OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"),
            "'999.1.1.1' is not an address of this machine; choose one with --host",
        ),
        (
            OSError(errno.EACCES, "Permission denied"),
            "ports below 1024 need privileges; choose another port with --port",
        ),
        (
            OSError(errno.EADDRINUSE, "Address already in use"),
            "stop the process that uses it or choose another port with --port",
        ),
    ],
)
def test_bind_fix_names_host_or_port(error: OSError, expected: str) -> None:
    assert bind_fix(error, "999.1.1.1").startswith(expected)


@pytest.mark.parametrize(
    ("value", "address"), [("[::1]", "::1"), ("[::]", "::"), ("[]", "::1")]
)
@pytest.mark.parametrize("command", [["serve"], ["train", "--serve"]])
def test_host_in_brackets_is_error(
    value: str, address: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args([*command, "--host", value])

    assert caught.value.code == 2
    assert (
        f"argument --host: the host {value!r} is in brackets, as URLs write an "
        f"IPv6 address; give the address without them, such as {address}"
    ) in capsys.readouterr().err


HOST_FIX = (
    "is empty, which would listen on every interface; give an address such as "
    "127.0.0.1, or 0.0.0.0 to listen on every interface"
)
REGISTRY_FIX = (
    "is empty; give a folder such as ./registry, or leave --registry out for "
    "$RNN_FORECAST_REGISTRY or ./registry"
)


# socket.bind(("", port)) listens on every interface, and Path("") is the
# current folder, so neither empty value means what the user chose
@pytest.mark.parametrize("value", ["", "  "])
@pytest.mark.parametrize(
    ("before", "option", "after", "fix"),
    [
        (["serve"], "--host", [], f"the host {{value!r}} {HOST_FIX}"),
        (["train", "--serve"], "--host", [], f"the host {{value!r}} {HOST_FIX}"),
        (
            [],
            "--registry",
            ["models", "list"],
            f"the folder {{value!r}} {REGISTRY_FIX}",
        ),
    ],
)
def test_empty_option_is_error(
    value: str,
    before: list[str],
    option: str,
    after: list[str],
    fix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args([*before, option, value, *after])

    assert caught.value.code == 2
    expected = f"argument {option}: {fix.format(value=value)}"
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_host_variable_is_default(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RNN_FORECAST_HOST", value)

    assert chosen_host(build_parser().parse_args(["serve"])) == "127.0.0.1"
