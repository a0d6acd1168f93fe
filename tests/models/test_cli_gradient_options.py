"""Numeric options of ``gradients flow`` and ``gradients lag-experiment``:
an invalid value is named by its option, with the range to send."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from models.cli import build_parser, main
from models.cli_gradients import _flow_spec
from models.date_fields import DATE_MESSAGE
from models.errors import InvalidInputError
from models.gradient_inputs import NoiseInput
from models.gradients import GradientFlowSpec, compute_gradient_flow
from models.limits import Limits

FLOW_ERRORS = [
    (
        ["--hidden-size", "0"],
        "--hidden-size 0: Input should be greater than or equal to 1; send "
        "--hidden-size between 1 and 256",
    ),
    (
        ["--hidden-size", "300"],
        "--hidden-size 300 is above the limit of 256; send --hidden-size between "
        "1 and 256, or raise RNN_FORECAST_MAX_DIAGNOSTIC_HIDDEN_SIZE",
    ),
    (
        ["--seq-len", "1"],
        "--seq-len 1: Input should be greater than or equal to 2; send --seq-len "
        "between 2 and 1000",
    ),
    (
        ["--seq-len", "1001"],
        "--seq-len 1001 is above the limit of 1000; send --seq-len between 2 and "
        "1000, or raise RNN_FORECAST_MAX_SEQ_LEN",
    ),
    (
        ["--spectral-radius", "0"],
        "--spectral-radius 0: Input should be greater than 0; send "
        "--spectral-radius above 0 and at most 100",
    ),
    (
        ["--cell", "lstm", "--forget-bias", "21"],
        "--forget-bias 21: Input should be less than or equal to 20; send "
        "--forget-bias between -20 and 20",
    ),
    (
        ["--cell", "gru", "--update-bias", "-21"],
        "--update-bias -21: Input should be greater than or equal to -20; send "
        "--update-bias between -20 and 20",
    ),
    (
        ["--clip-norm", "nan"],
        "--clip-norm nan: Input should be a finite number; send --clip-norm "
        "above 0, or 0 to turn gradient clipping off",
    ),
    (
        ["--seed", "-1"],
        "--seed -1: Input should be greater than or equal to 0; send --seed "
        "between 0 and 2147483647",
    ),
    (
        ["--input", "bundled", "--end", "2020-13-01"],
        f"--end: {DATE_MESSAGE}",
    ),
]

LAG_ERRORS = [
    (
        ["--steps", "0"],
        "--steps 0: Input should be greater than or equal to 1; send --steps "
        "between 1 and 50000",
    ),
    (
        ["--hidden-size", "257"],
        "--hidden-size 257: Input should be less than or equal to 256; send "
        "--hidden-size between 1 and 256",
    ),
    (
        ["--batch-size", "0"],
        "--batch-size 0: Input should be greater than or equal to 1; send "
        "--batch-size between 1 and 1024",
    ),
    (
        ["--learning-rate", "0"],
        "--learning-rate 0: Input should be greater than 0; send --learning-rate "
        "above 0 and at most 1",
    ),
    (
        ["--gate-bias", "nan"],
        "--gate-bias nan: Input should be a finite number; send --gate-bias "
        "between -20 and 20",
    ),
    (
        ["--test-size", "1"],
        "--test-size 1: Input should be greater than or equal to 2; send "
        "--test-size between 2 and 100000",
    ),
    (
        ["--lags", "0"],
        "--lags: every lag must be in 1..500, got [0]; send lags from 1 to 500",
    ),
    (
        ["--lags", "4,2,4"],
        "--lags: lags [4] appear more than once; list each lag once",
    ),
]


@pytest.mark.parametrize(
    ("command", "options", "message"),
    [("flow", *case) for case in FLOW_ERRORS]
    + [("lag-experiment", *case) for case in LAG_ERRORS],
)
def test_option_error_gives_range(
    command: str,
    options: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["--registry", str(tmp_path), "gradients", command, *options])

    assert status == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def flow_args(*options: str) -> argparse.Namespace:
    """Parse ``gradients flow`` with ``options``."""
    return build_parser().parse_args(["gradients", "flow", *options])


def test_flow_range_follows_limit(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RNN_FORECAST_MAX_DIAGNOSTIC_HIDDEN_SIZE", "64")
    argv = ["--registry", str(tmp_path), "gradients", "flow", "--hidden-size", "0"]

    assert main(argv) == 2
    assert capsys.readouterr().err.endswith("send --hidden-size between 1 and 64\n")


def test_flow_zero_clip_norm_is_off() -> None:
    spec = _flow_spec(flow_args("--clip-norm", "0"), None, Limits())

    assert spec.clip_norm is None


def test_flow_noise_takes_seed() -> None:
    spec = _flow_spec(flow_args("--seed", "7"), None, Limits())

    assert spec.input == NoiseInput(seed=7)
    assert spec.seed == 7


# a registry with sine-old version 1, a one-layer RNN of hidden size 2
FIXTURE_REGISTRY = Path(__file__).parent / "fixtures" / "registry"

CROSS_FIELD_ERRORS = [
    (
        ["--cell", "gru", "--activation", "identity"],
        "--activation 'identity' applies only to --cell 'rnn'; the gru has fixed "
        "activations, so remove --activation",
    ),
    (
        ["--forget-bias", "1"],
        "--forget-bias applies only to --cell 'lstm', but the cell is the default "
        "'rnn'; set --cell to 'lstm' or remove --forget-bias",
    ),
    (
        ["--cell", "lstm", "--update-bias", "1"],
        "--update-bias applies only to --cell 'gru', but the cell is 'lstm'; "
        "remove --update-bias",
    ),
    (
        ["--model", "sine-old", "--update-bias", "1"],
        "--update-bias applies to a fresh network and cannot change the stored "
        "version sine-old:1; remove --update-bias or --model",
    ),
    (
        ["--model", "sine-old", "--hidden-size", "4"],
        "--hidden-size applies to a fresh network and cannot change the stored "
        "version sine-old:1; remove --hidden-size or --model",
    ),
    (
        ["--model", "sine-old", "--cell", "gru"],
        "--cell 'gru' differs from the 'rnn' of sine-old:1; leave --cell out",
    ),
    (
        ["--model", "sine-old", "--layer", "1"],
        "--layer 1 is out of range: sine-old:1 has layers 0..0; send a layer "
        "from 0 to 0, or leave --layer out for the top layer",
    ),
    (
        ["--model", "Sine"],
        "--model: 'Sine' is invalid. A name may contain only lowercase letters, "
        "digits, '_' and '-', must start with a letter or digit and may have at "
        "most 64 characters. Use a name such as 'sine'.",
    ),
]


@pytest.mark.parametrize(("options", "message"), CROSS_FIELD_ERRORS)
def test_flow_cross_field_error_names_options(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--registry", str(FIXTURE_REGISTRY), "gradients", "flow", *options]

    assert main(argv) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_flow_values_length_names_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = tmp_path / "values.json"
    values.write_text("[1, 2, 3, 4, 5]")
    argv = ["--registry", str(tmp_path), "gradients", "flow", "--seq-len", "4"]

    assert main([*argv, "--values", str(values)]) == 2
    assert capsys.readouterr().err == (
        "error: --seq-len 4 differs from the 5 rows of --values; leave --seq-len "
        "out or make them equal\n"
    )


def test_flow_spec_errors_name_fields() -> None:
    spec = GradientFlowSpec(cell="gru", activation="identity")

    with pytest.raises(InvalidInputError) as caught:
        compute_gradient_flow(spec)

    assert caught.value.message == (
        "activation 'identity' applies only to cell 'rnn'; the gru has fixed "
        "activations, so remove activation"
    )


def test_lag_batch_limit_names_options(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RNN_FORECAST_MAX_LAG_BATCH_ELEMENTS", raising=False)
    options = ["--batch-size", "1024", "--hidden-size", "256"]
    argv = ["--registry", str(tmp_path), "gradients", "lag-experiment", *options]

    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "error: batch_size x seq_len x hidden_size = 1024 x 45 x 256 = 11796480 "
        "is above the limit of 4000000; lower --batch-size, --hidden-size or the "
        "largest lag, or raise RNN_FORECAST_MAX_LAG_BATCH_ELEMENTS\n"
    )


def test_flow_overflow_fix_names_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--activation", "identity", "--spectral-radius", "100"]
    argv = ["--registry", str(tmp_path), "gradients", "flow", *options]

    assert main([*argv, "--seq-len", "200"]) == 2
    assert capsys.readouterr().err == (
        "error: the hidden state overflowed float64 at step 155; lower "
        "--spectral-radius or --seq-len, use --activation 'tanh', or send "
        "smaller input values\n"
    )


def test_flow_overflow_fix_names_fields() -> None:
    spec = GradientFlowSpec(activation="identity", spectral_radius=100, seq_len=200)

    with pytest.raises(InvalidInputError) as caught:
        compute_gradient_flow(spec)

    assert caught.value.message == (
        "the hidden state overflowed float64 at step 155; lower spectral_radius "
        "or seq_len, use activation 'tanh', or send smaller input values"
    )


def test_flow_update_bias_reaches_spec_and_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--cell", "gru", "--hidden-size", "4", "--seq-len", "20", "--json"]
    argv = ["--registry", str(tmp_path), "gradients", "flow", *options]

    assert main([*argv, "--update-bias", "4"]) == 0
    biased = json.loads(capsys.readouterr().out)[0]
    assert main(argv) == 0
    plain = json.loads(capsys.readouterr().out)[0]

    assert biased["update_bias"] == 4.0
    assert plain["update_bias"] is None
    ratio = biased["summary"]["first_to_last_ratio"]
    assert ratio > 100 * plain["summary"]["first_to_last_ratio"]
    assert _flow_spec(flow_args("--update-bias", "4"), "gru", Limits()).update_bias == 4
