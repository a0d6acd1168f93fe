"""Checks across spec fields name what the user typed: the options on the
command line, the JSON fields in a spec file or an HTTP body."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from models.cli import build_parser, training_spec
from models.cli_evaluation import base_spec
from models.date_fields import DATE_MESSAGE
from models.registry import Registry
from models.spec import TrainingSpec, YFinanceData

DROPOUT_REASON = "because dropout is applied between recurrent layers"


def parse(*argv: str) -> argparse.Namespace:
    """Parse a command line as ``main`` does."""
    args = build_parser().parse_args(list(argv))
    args.argv = list(argv)
    return args


def test_dropout_check_names_train_options() -> None:
    args = parse("train", "--num-layers", "1", "--dropout", "0.2")

    with pytest.raises(ValueError) as caught:
        training_spec(args)

    assert str(caught.value) == (
        "--dropout: --dropout 0.2 has no effect with --num-layers 1 "
        f"{DROPOUT_REASON}; set --num-layers 2 or more, or --dropout 0"
    )


def test_dropout_check_names_spec_fields() -> None:
    with pytest.raises(ValidationError) as caught:
        TrainingSpec.model_validate({"dropout": 0.2, "num_layers": 1})

    assert caught.value.errors()[0]["loc"] == ("dropout",)
    assert caught.value.errors()[0]["ctx"]["error"].args[0] == (
        f"dropout=0.2 has no effect with num_layers=1 {DROPOUT_REASON}; "
        "set num_layers=2 or more, or dropout=0"
    )


def test_dropout_from_spec_file_keeps_field(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"dropout": 0.2, "num_layers": 2}))
    args = parse("train", "--spec", str(spec), "--num-layers", "1")

    with pytest.raises(ValueError) as caught:
        training_spec(args)

    assert str(caught.value) == (
        "dropout: dropout=0.2 has no effect with --num-layers 1 "
        f"{DROPOUT_REASON}; set --num-layers 2 or more, or dropout=0"
    )


def test_backtest_dropout_check_names_option(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"dropout": 0.3, "num_layers": 2}))
    args = parse("backtest", "--spec", str(spec), "--num-layers", "1")

    with pytest.raises(ValueError) as caught:
        base_spec(args, Registry(tmp_path / "registry"))

    assert str(caught.value).startswith(
        "dropout: dropout=0.3 has no effect with --num-layers 1 "
    )


def test_download_range_names_start_and_end() -> None:
    args = parse(
        "train",
        "--name",
        "mine",
        "--data",
        "yfinance:NFLX",
        "--start",
        "2020-01-01",
        "--end",
        "2019-01-01",
    )

    with pytest.raises(ValueError) as caught:
        training_spec(args)

    assert str(caught.value) == (
        "--end: --end 2019-01-01 must be after --start 2020-01-01; set --end "
        "to a later date than --start"
    )


def test_download_range_in_spec_names_fields() -> None:
    data = {
        "source": "yfinance",
        "ticker": "NFLX",
        "start": "2020-01-01",
        "end": "2019-01-01",
    }

    with pytest.raises(ValidationError) as caught:
        TrainingSpec.model_validate({"name": "mine", "data": data})

    assert caught.value.errors()[0]["loc"] == ("data", "yfinance", "end")
    assert caught.value.errors()[0]["ctx"]["error"].args[0] == (
        "data.end 2019-01-01 must be after data.start 2020-01-01; set data.end "
        "to a later date than data.start"
    )


@pytest.mark.parametrize(
    ("dates", "field", "message"),
    [
        (
            {"start": "2020-01-04", "end": "2020-01-06"},
            "end",
            "data.end 2020-01-06 leaves no NYSE session to download, because the "
            "bars end before data.end and the first session on or after "
            "data.start 2020-01-04 is 2020-01-06; set data.end after 2020-01-06",
        ),
        (
            {"end": "1990-01-02"},
            "end",
            "data.end 1990-01-02 leaves no NYSE session to download, because the "
            "bars end before data.end and the first session of the NYSE calendar "
            "(which starts the download when data.start is left out) is "
            "1990-01-02; set data.end after 1990-01-02",
        ),
        (
            {"start": "2201-01-01"},
            "start",
            "data.start 2201-01-01 is after 2200-12-31, the last session of the "
            "NYSE calendar, so no bar of the download can be dated on a session; "
            "set data.start to 2200-12-31 or earlier",
        ),
    ],
)
def test_download_range_without_sessions(
    dates: dict[str, str], field: str, message: str
) -> None:
    data = {"source": "yfinance", "ticker": "IBM", **dates}

    with pytest.raises(ValidationError) as caught:
        TrainingSpec.model_validate({"name": "mine", "data": data})

    errors = caught.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == ("data", "yfinance", field)
    assert errors[0]["ctx"]["error"].args[0] == message


def test_download_range_with_one_session_passes() -> None:
    data = {"source": "yfinance", "ticker": "IBM", "end": "1990-01-03"}

    spec = TrainingSpec.model_validate({"name": "mine", "data": data})

    assert isinstance(spec.data, YFinanceData)
    assert str(spec.data.end) == "1990-01-03"


def test_download_range_without_sessions_names_option() -> None:
    args = parse(
        "train", "--name", "mine", "--data", "yfinance:IBM", "--end", "1989-01-01"
    )

    with pytest.raises(ValueError) as caught:
        training_spec(args)

    assert str(caught.value).startswith(
        "--end: --end 1989-01-01 leaves no NYSE session to download"
    )


@pytest.mark.parametrize("data", ["bundled", "csv:prices.csv", "yfinance:NFLX"])
def test_invalid_column_names_option(data: str) -> None:
    args = parse("train", "--name", "mine", "--data", data, "--column", "volume")

    with pytest.raises(ValueError) as caught:
        training_spec(args)

    assert str(caught.value).startswith("--column: Input should be 'close', ")


def test_invalid_download_date_names_option() -> None:
    args = parse(
        "train", "--name", "mine", "--data", "yfinance:NFLX", "--start", "2020-13-01"
    )

    with pytest.raises(ValueError) as caught:
        training_spec(args)

    assert str(caught.value) == f"--start: {DATE_MESSAGE}"


def test_backtest_column_names_option(tmp_path: Path) -> None:
    args = parse("backtest", "--column", "volume")

    with pytest.raises(ValueError) as caught:
        base_spec(args, Registry(tmp_path / "registry"))

    assert str(caught.value).startswith("--column: Input should be 'close', ")


def test_spec_file_length_names_option(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    data = {"source": "synthetic", "generator": "sine"}
    spec.write_text(json.dumps({"name": "mine", "data": data}))
    args = parse("train", "--spec", str(spec), "--length", "10")

    with pytest.raises(ValueError) as caught:
        training_spec(args)

    assert str(caught.value) == (
        "--length 10: Input should be greater than or equal to 50; send --length "
        "between 50 and 50000"
    )
