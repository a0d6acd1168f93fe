"""The command line's ``--data`` and the options that one source reads:
``--start``, ``--end``, ``--length`` and ``--column``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest

from models.cli import build_parser, main, training_spec
from models.cli_evaluation import base_spec
from models.registry import Registry


def parse(*argv: str) -> argparse.Namespace:
    """Parse a command line as ``main`` does."""
    args = build_parser().parse_args(list(argv))
    args.argv = list(argv)
    return args


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--start", "2020-01-01"],
            "--start applies only to --data yfinance:TICKER, but the data is "
            "--data bundled; remove --start, or use yfinance:TICKER data",
        ),
        (
            ["--data", "csv:prices.csv", "--end", "2020-01-01"],
            "--end applies only to --data yfinance:TICKER, but the data is "
            "--data csv:prices.csv; remove --end",
        ),
        (
            ["--data", "yfinance:NFLX", "--length", "300"],
            "--length applies only to --data synthetic:GENERATOR, but the data "
            "is --data yfinance:NFLX; remove --length",
        ),
        (
            ["--data", "synthetic:sine", "--column", "open"],
            "--column picks a price column, but the data is --data "
            "synthetic:sine, a synthetic series with one value per day; remove "
            "--column",
        ),
    ],
)
def test_train_rejects_option_of_other_source(argv: list[str], expected: str) -> None:
    args = parse("train", "--name", "m", *argv)

    with pytest.raises(ValueError) as caught:
        training_spec(args)

    assert expected in str(caught.value)


def test_train_passes_source_options() -> None:
    yfinance = training_spec(
        parse(
            "train", "--data", "yfinance:NFLX", "--name", "m", "--start", "2019-01-02"
        )
    )
    synthetic = training_spec(
        parse("train", "--data", "synthetic:ar1", "--name", "m", "--length", "300")
    )
    default_length = training_spec(
        parse("train", "--data", "synthetic:ar1", "--name", "m")
    )
    bundled = training_spec(parse("train", "--column", "open"))

    assert yfinance.data.model_dump()["start"] == dt.date(2019, 1, 2)
    assert synthetic.data.model_dump()["length"] == 300
    assert default_length.data.model_dump()["length"] == 2000
    assert bundled.data.model_dump() == {"source": "bundled", "column": "open"}


def test_options_override_spec_file_data(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(
        json.dumps({"name": "m", "data": {"source": "yfinance", "ticker": "NFLX"}})
    )

    spec = training_spec(
        parse("train", "--spec", str(spec_file), "--start", "2019-01-02")
    )

    data = spec.data.model_dump()
    assert data["ticker"] == "NFLX"
    assert data["start"] == dt.date(2019, 1, 2)


def test_spec_file_without_data_is_bundled(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({"epochs": 3}))

    with_column = training_spec(
        parse("train", "--spec", str(spec_file), "--column", "high")
    )
    with pytest.raises(ValueError) as caught:
        training_spec(parse("train", "--spec", str(spec_file), "--end", "2020-01-01"))

    assert with_column.data.model_dump() == {"source": "bundled", "column": "high"}
    assert (
        f"--end applies only to --data yfinance:TICKER, but the data is "
        f"data.source 'bundled' of the spec file {spec_file}; remove --end"
    ) in str(caught.value)


def test_backtest_spec_gets_source_options(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(
        json.dumps({"name": "m", "data": {"source": "synthetic", "generator": "ar1"}})
    )
    registry = Registry(tmp_path / "registry")

    spec = base_spec(
        parse("backtest", "--spec", str(spec_file), "--length", "500"), registry
    )
    with pytest.raises(ValueError) as caught:
        base_spec(parse("backtest", "--length", "500"), registry)

    assert spec.data.model_dump()["length"] == 500
    assert "but the data is data.source 'bundled' of the default spec" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("length", "message"),
    [
        ("10", "--length 10: Input should be greater than or equal to 50"),
        ("60000", "--length 60000: Input should be less than or equal to 50000"),
    ],
)
def test_spec_file_length_error_gives_range(
    tmp_path: Path, length: str, message: str
) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(
        json.dumps({"name": "m", "data": {"source": "synthetic", "generator": "sine"}})
    )
    registry = Registry(tmp_path / "registry")
    expected = f"{message}; send --length between 50 and 50000"

    with pytest.raises(ValueError) as train:
        training_spec(parse("train", "--spec", str(spec_file), "--length", length))
    with pytest.raises(ValueError) as backtest:
        base_spec(
            parse("backtest", "--spec", str(spec_file), "--length", length), registry
        )

    assert str(train.value) == expected
    assert str(backtest.value) == expected


def test_spec_file_path_skips_union_tag(tmp_path: Path) -> None:
    """pydantic puts the source, a value of the data object, in the
    location; the message names the field by its keys alone."""
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({"name": "m", "data": {"source": "csv"}}))

    with pytest.raises(ValueError) as caught:
        training_spec(parse("train", "--spec", str(spec_file)))

    assert str(caught.value).startswith("data.path: Field required")


def test_spec_file_field_keeps_its_name(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    data = {"source": "synthetic", "generator": "sine", "length": 10}
    spec_file.write_text(json.dumps({"name": "m", "data": data}))

    with pytest.raises(ValueError) as caught:
        training_spec(parse("train", "--spec", str(spec_file)))

    assert str(caught.value) == (
        "data.length: Input should be greater than or equal to 50; "
        "send a value of at least 50"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"epochs": 0},
            "epochs: Input should be greater than or equal to 1; send a value of "
            "at least 1",
        ),
        (
            {"hidden_size": [8]},
            "hidden_size: Input should be a valid integer; send a whole number "
            "such as 3",
        ),
        (
            {"data": []},
            "data: Input should be a valid dictionary or object to extract fields "
            "from; send a JSON object",
        ),
    ],
)
def test_spec_file_error_gives_fix(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(fields))

    with pytest.raises(ValueError) as caught:
        training_spec(parse("train", "--spec", str(spec_file)))

    assert str(caught.value) == message


@pytest.mark.parametrize(
    "command", [["train", "--name", "m"], ["backtest"], ["tune", "--name", "m"]]
)
def test_invalid_ticker_names_data_option(
    command: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import yfinance

    downloads: list[object] = []
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: downloads.append(a))
    argv = ["--registry", str(tmp_path), *command, "--data", "yfinance:BAD/X"]

    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "error: --data yfinance:BAD/X: the ticker 'BAD/X' is invalid. Give --data "
        "yfinance:TICKER with a ticker of 1 to 15 letters, digits or the characters "
        ". ^ = -, such as yfinance:NFLX\n"
    )
    assert downloads == []


def test_invalid_generator_names_data_option() -> None:
    with pytest.raises(ValueError) as caught:
        training_spec(parse("train", "--name", "m", "--data", "synthetic:sin"))

    assert str(caught.value).startswith(
        "--data synthetic:sin: Input should be 'sine', 'noisy_sine', "
    )


def test_valid_ticker_passes_check() -> None:
    spec = training_spec(parse("train", "--name", "m", "--data", "yfinance:^GSPC"))

    assert spec.data.model_dump()["ticker"] == "^GSPC"
