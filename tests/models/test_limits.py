"""Limits read from the environment by the command line."""

from __future__ import annotations

import pytest

from models.limits import DEFAULT_LIMITS, limit_from_env


def test_limit_from_env_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RNN_FORECAST_MAX_BACKTEST_FITS", raising=False)
    assert limit_from_env("max_backtest_fits") == DEFAULT_LIMITS.max_backtest_fits


def test_limit_from_env_reads_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNN_FORECAST_MAX_BACKTEST_FITS", " 250 ")
    assert limit_from_env("max_backtest_fits") == 250


def test_limit_from_env_rejects_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RNN_FORECAST_MAX_BACKTEST_FITS", "many")
    with pytest.raises(ValueError) as caught:
        limit_from_env("max_backtest_fits")
    assert str(caught.value) == (
        "RNN_FORECAST_MAX_BACKTEST_FITS='many' is invalid; set it to a whole "
        "number or unset it"
    )


def test_limit_from_env_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="limit 'max_bogus' not found"):
        limit_from_env("max_bogus")


@pytest.mark.parametrize("text", ["0", "-3"])
def test_limit_from_env_rejects_below_one(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("RNN_FORECAST_MAX_DIAGNOSTIC_PARAMETERS", text)
    with pytest.raises(ValueError) as caught:
        limit_from_env("max_diagnostic_parameters")
    assert str(caught.value) == (
        f"RNN_FORECAST_MAX_DIAGNOSTIC_PARAMETERS={int(text)} is invalid; use a "
        "limit of at least 1"
    )
