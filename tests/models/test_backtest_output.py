"""Text summary of ``rnn-forecast backtest``."""

from __future__ import annotations

from typing import Any

import pytest

from models import cli_evaluation


def result(origins_per_fold: list[int]) -> dict[str, Any]:
    """Return a backtest result with one fold per entry of ``origins_per_fold``."""
    scores = {"model": {"rmse": 0.5}, "naive": {"rmse": 1.0}, "skill_rmse": 0.5}
    folds = [
        {
            "fold": number,
            "train_rows": 100,
            "train_end": "2020-01-02",
            "origins": count,
            "scores": scores,
        }
        for number, count in enumerate(origins_per_fold, start=1)
    ]
    return {
        "origins": {
            "count": sum(origins_per_fold),
            "first": "2020-01-02",
            "last": "2020-01-03",
        },
        "folds": folds,
        "seconds": 1.0,
        "aggregate": {"intervals": {}},
    }


@pytest.fixture(autouse=True)
def no_score_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_evaluation, "print_scores", lambda scores: None)
    monkeypatch.setattr(cli_evaluation, "print_intervals", lambda intervals: None)


def test_one_origin_and_fold_are_singular(capsys: pytest.CaptureFixture[str]) -> None:
    cli_evaluation.print_backtest(result([1]))

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "1 origin 2020-01-02..2020-01-03 in 1 fold, 1.0 s"
    assert lines[1].startswith("fold 1: trained on 100 rows to 2020-01-02, 1 origin,")


def test_several_origins_and_folds_are_plural(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_evaluation.print_backtest(result([2, 1]))

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "3 origins 2020-01-02..2020-01-03 in 2 folds, 1.0 s"
    assert ", 2 origins, RMSE 0.5000 (naive 1.0000), skill +0.5000" in lines[1]
    assert ", 1 origin, RMSE" in lines[2]
