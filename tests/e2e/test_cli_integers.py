"""Integer options of the command line: the digits 0-9 with an optional
minus sign, where Python's int() also reads underscores, signs, spaces and
the digits of other scripts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from models.cli import build_parser
from models.cli_integers import integer
from tests.e2e.test_cli import run_cli
from tests.models.test_cli_parser import all_parsers

NOT_DIGITS = "is not an integer written with the digits 0-9 only"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["train", "--epochs", "1_0000"],
            f"argument --epochs: '1_0000' {NOT_DIGITS}; write it as 10000",
        ),
        (
            ["tune", "--trials", " 1001"],
            f"argument --trials: ' 1001' {NOT_DIGITS}; write it as 1001",
        ),
        (
            ["backtest", "--step", "+0"],
            f"argument --step: '+0' {NOT_DIGITS}; write it as 0",
        ),
        (
            ["gradients", "flow", "--seq-len", "١٠"],
            f"argument --seq-len: '١٠' {NOT_DIGITS}; write it as 10",
        ),
        (
            ["forecast", "nflx", "--horizon", "3.0"],
            f"argument --horizon: '3.0' {NOT_DIGITS}",
        ),
        (
            ["serve", "--port", "7_0000"],
            f"argument --port: port '7_0000' {NOT_DIGITS}; write it as 70000; use "
            "a port from 1 to 65535",
        ),
        (
            ["gradients", "lag-experiment", "--lags", "5,١"],
            "argument --lags: '١' is not a positive whole number written with the "
            "digits 0-9; give comma-separated lags in steps such as 5,10,20",
        ),
        (
            ["gradients", "flow", "--torch-threads", "٤"],
            "argument --torch-threads: '٤' is invalid; give a whole number of "
            "threads from 1 to 256 written with the digits 0-9, such as 1",
        ),
    ],
)
def test_integer_option_rejects_non_digits(
    tmp_path: Path, args: list[str], error: str
) -> None:
    # int() reads each value as one out of its option's range, or as one
    # that runs in seconds, so a command that used int() also fails fast
    env = {"RNN_FORECAST_DATA_DIR": str(tmp_path / "data")}
    result = run_cli(tmp_path / "registry", *args, env=env)

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(f"error: {error}")
    assert not (tmp_path / "registry").exists()


def test_negative_integer_gets_range_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "registry", "train", "--patience", "-1")

    assert result.returncode == 2
    assert result.stderr == (
        "error: --patience -1 is below 0; use a positive value, or 0 to turn "
        "early stopping off\n"
    )


def test_no_option_parses_with_int() -> None:
    """Check that every option of every command that takes an integer
    parses it with ``integer``, not with Python's int()."""
    with_int = [
        f"{parser.prog} {action.option_strings[0]}"
        for parser in all_parsers(build_parser())
        for action in parser._actions
        if action.type is int and action.option_strings
    ]

    assert with_int == []


@pytest.mark.parametrize(("text", "value"), [("10", 10), ("-3", -3), ("007", 7)])
def test_integer_reads_digits(text: str, value: int) -> None:
    assert integer(text) == value


def test_integer_beyond_digit_limit_rejected() -> None:
    limit = sys.get_int_max_str_digits()
    text = "9" * (limit + 1)

    with pytest.raises(argparse.ArgumentTypeError) as caught:
        integer(text)

    assert f"has {limit + 1} digits, more than the {limit} that Python" in str(
        caught.value
    )
