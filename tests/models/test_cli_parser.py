"""The ``rnn-forecast`` parser: whole option names only, and the help of
``--data`` for each command."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.cli import build_parser, main


def all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Yield ``parser`` and every subcommand parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from all_parsers(sub)


def test_every_parser_rejects_abbreviations() -> None:
    parsers = list(all_parsers(build_parser()))

    assert len(parsers) > 10
    abbreviating = [p.prog for p in parsers if p.allow_abbrev]
    assert abbreviating == []


@pytest.mark.parametrize(
    ("argv", "prefix"),
    [
        (["tune", "--start", "2020-01-01"], "--start"),
        (["train", "--epoch", "3"], "--epoch"),
        (["backtest", "--refit", "2"], "--refit"),
        (["gradients", "flow", "--hidden", "4"], "--hidden"),
    ],
)
def test_abbreviated_option_is_error(
    argv: list[str], prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)

    assert caught.value.code == 2
    assert f"unrecognized arguments: {prefix}" in capsys.readouterr().err


def data_help(command: str) -> str:
    """Return the help text of ``--data`` of ``command``."""
    for parser in all_parsers(build_parser()):
        if parser.prog == f"rnn-forecast {command}":
            for action in parser._actions:
                if "--data" in action.option_strings:
                    return str(action.help)
    raise AssertionError(f"{command} has no --data")


@pytest.mark.parametrize("command", ["tune", "backtest"])
def test_spec_commands_data_help(command: str) -> None:
    text = data_help(command)

    assert "--start" not in text
    assert "'yfinance:TICKER' (the whole history)" in text


def test_train_data_help_names_range_options() -> None:
    assert "dates set by --start and --end" in data_help("train")


@pytest.mark.parametrize(
    "command", [["gradients", "flow"], ["gradients", "lag-experiment"]]
)
@pytest.mark.parametrize("threads", ["0", "-1", "257", "100000", "two"])
def test_torch_threads_out_of_range_is_error(
    command: list[str], threads: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args([*command, "--torch-threads", threads])

    assert caught.value.code == 2
    expected = (
        f"argument --torch-threads: '{threads}' is invalid; give a whole number "
        "of threads from 1 to 256"
    )
    assert expected in capsys.readouterr().err


def test_torch_threads_in_range_is_parsed() -> None:
    args = build_parser().parse_args(["gradients", "flow", "--torch-threads", "256"])

    assert args.torch_threads == 256


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--end", "2020-01-01"],
            "--end applies only to --input bundled, but the input is --input "
            "noise; remove --end, or use --input bundled",
        ),
        (
            ["--values", "values.json", "--end", "2020-01-01"],
            "--end applies only to --input bundled, but the input is --values; "
            "remove --end, or use --input bundled",
        ),
        (
            ["--input", "bundled", "--values", "values.json"],
            "--values replaces --input bundled; give one of them",
        ),
        (
            ["--layer", "0"],
            "--layer selects a layer of a stored version; add --model NAME or "
            "remove --layer",
        ),
    ],
)
def test_flow_input_options_conflict(
    options: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry = ["--registry", str(tmp_path)]
    status = main([*registry, "gradients", "flow", "--seq-len", "5", *options])

    assert status == 2
    assert capsys.readouterr().err == f"error: {message}\n"


@pytest.mark.parametrize("bias", ["1.0", "2"])
def test_gate_bias_with_default_init_is_error(
    bias: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["gradients", "lag-experiment", "--default-init", "--gate-bias", bias]
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)

    assert caught.value.code == 2
    assert "argument --gate-bias: not allowed with argument --default-init" in (
        capsys.readouterr().err
    )
