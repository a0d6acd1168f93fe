"""Errors of ``rnn-forecast train --spec FILE``: each names the field and the
fix, and nothing is trained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli_checks import run_cli


def train_spec(tmp_path: Path, spec: dict[str, object]) -> str:
    """Run ``train --spec`` on ``spec``; return stderr after checking that the
    command failed with exit code 2 and wrote no version."""
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))

    result = run_cli(tmp_path, "train", "--spec", str(path), "--quiet")

    assert result.returncode == 2, result.stdout
    assert "wrote" not in result.stdout
    assert not (tmp_path / "registry").exists()
    return result.stderr


def test_bad_name_rule_in_words(tmp_path: Path) -> None:
    stderr = train_spec(tmp_path, {"name": "My Model", "epochs": 1})

    assert stderr == (
        "error: name: 'My Model' is invalid. A name may contain only lowercase "
        "letters, digits, '_' and '-', must start with a letter or digit and may "
        "have at most 64 characters. Use a name such as 'my-model'.\n"
    )


ALL_SOURCES = "'bundled', 'csv', 'yfinance', 'synthetic' or 'upload'"


def test_missing_source_is_required(tmp_path: Path) -> None:
    stderr = train_spec(tmp_path, {"data": {}})

    assert stderr == (
        "error: data.source: Field required: a data spec needs a source, one of "
        f"{ALL_SOURCES}\n"
    )


def test_unknown_source_lists_csv(tmp_path: Path) -> None:
    stderr = train_spec(tmp_path, {"data": {"source": "nope"}})

    assert stderr == (
        f"error: data.source: 'nope' is not a data source; use one of {ALL_SOURCES}\n"
    )


def test_float_rejected_for_integer(tmp_path: Path) -> None:
    stderr = train_spec(tmp_path, {"hidden_size": 64.0, "epochs": 1})

    assert stderr == (
        "error: hidden_size: Input should be an integer without a decimal point or "
        "exponent, not 64.0; send a whole number such as 64\n"
    )


def test_non_finite_float_named(tmp_path: Path) -> None:
    stderr = train_spec(tmp_path, {"learning_rate": float("nan"), "epochs": 1})

    assert stderr == (
        "error: learning_rate: Input should be a finite number, but the value "
        "sent is NaN, which is not a number that JSON allows; send a finite "
        "number\n"
    )


def test_unused_generator_field_rejected(tmp_path: Path) -> None:
    data = {"source": "synthetic", "generator": "sine", "noise": 0.5}

    stderr = train_spec(tmp_path, {"name": "s", "data": data})

    assert stderr == (
        "error: data.noise is not used by generator 'sine', which uses data.length, "
        "data.period and data.level; remove it or choose a generator that uses it: "
        "'noisy_sine', 'trend_seasonal', 'ar1', 'random_walk' or 'mackey_glass'\n"
    )


def test_unpaired_surrogate_named(tmp_path: Path) -> None:
    stderr = train_spec(tmp_path, {"epochs": "\ud800", "name": "s"})

    assert stderr == (
        f"error: --spec {tmp_path / 'spec.json'}: epochs: the string contains an "
        "unpaired UTF-16 surrogate escape (\\ud800 to \\udfff), which is not a "
        "Unicode character; send the character itself, or both halves of its "
        "surrogate pair such as \\ud83d\\ude00\n"
    )


def test_data_flag_sets_seed_of_random_generator(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "train", "--name", "walk", "--data", "synthetic:random_walk",
        "--length", "200", "--seed", "5", "--target", "price", "--epochs", "1",
        "--hidden-size", "4", "--num-layers", "1", "--lookback", "10", "--quiet",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    metadata = tmp_path / "registry" / "walk" / "versions" / "1" / "metadata.json"
    assert json.loads(metadata.read_text())["spec"]["data"]["seed"] == 5


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            ["--epochs", "0"],
            "--epochs 0: Input should be greater than or equal to 1; send --epochs "
            "between 1 and 500",
        ),
        (
            ["--learning-rate", "2"],
            "--learning-rate 2: Input should be less than or equal to 1; send "
            "--learning-rate above 0 and at most 1",
        ),
        (
            ["--dropout", "1"],
            "--dropout 1: Input should be less than 1; send --dropout at least 0 "
            "and below 1",
        ),
        (
            ["--patience", "1001"],
            "--patience 1001: Input should be less than or equal to 1000; send "
            "--patience between 1 and 1000, or 0 to turn early stopping off",
        ),
        (
            ["--data", "synthetic:ar1", "--name", "s", "--length", "10"],
            "--length 10: Input should be greater than or equal to 50; send "
            "--length between 50 and 50000",
        ),
    ],
)
def test_train_option_error_gives_range(
    tmp_path: Path, options: list[str], expected: str
) -> None:
    result = run_cli(tmp_path, "train", *options, "--quiet")

    assert result.returncode == 2
    assert result.stderr == f"error: {expected}\n"
    assert not (tmp_path / "registry").exists()


def test_spec_file_field_keeps_its_name(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"epochs": 0}))

    result = run_cli(tmp_path, "train", "--spec", str(path), "--seed", "-1")

    assert result.returncode == 2
    assert result.stderr == (
        "error: epochs: Input should be greater than or equal to 1; send a value "
        "of at least 1; --seed -1: Input should be greater than or equal to 0; "
        "send --seed between 0 and 2147483647\n"
    )


def test_null_seed_says_leave_it_out(tmp_path: Path) -> None:
    stderr = train_spec(tmp_path, {"seed": None, "epochs": 1})

    assert stderr == (
        "error: seed: Input should be a valid integer, not null; leave seed out "
        "to use its default\n"
    )


def test_unknown_field_lists_accepted_fields(tmp_path: Path) -> None:
    stderr = train_spec(
        tmp_path,
        {"epochs": 1, "data": {"source": "csv", "path": "a.csv", "colum": "close"}},
    )

    assert stderr == (
        "error: data.colum: Extra inputs are not permitted; remove the field or "
        "correct its spelling. The accepted fields are column, path, source\n"
    )
