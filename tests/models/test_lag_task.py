"""The lag experiment, run tiny: real training, a few dozen Adam steps."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from models import lag_task
from models.lag_task import (
    LagExperimentParams,
    initial_ratio_markdown,
    lag_table_markdown,
    make_batch,
    run_lag_experiment,
)
from models.nn.forecaster import Forecaster
from models.training import TrainingCancelled
from tests.models.torch_threads import one_torch_thread  # noqa: F401

TINY = {
    "cells": ["rnn", "gru"],
    "lags": [3, 1],
    "padding": 2,
    "hidden_size": 8,
    "steps": 40,
    "batch_size": 32,
    "test_size": 64,
}


def test_batch_marks_the_recalled_value() -> None:
    x, y = make_batch(4, 6, 2, torch.Generator().manual_seed(0))

    assert x.shape == (4, 6, 2)
    assert y.shape == (4, 1)
    assert torch.equal(x[:, :, 1].sum(dim=1), torch.ones(4))
    assert torch.equal(x[:, 3, 1], torch.ones(4))
    assert torch.equal(y[:, 0], x[:, 3, 0])


def test_tiny_experiment_reports_every_run() -> None:
    progress: list[dict[str, Any]] = []
    result = run_lag_experiment(TINY, progress.append)

    assert result["seq_len"] == 5
    assert result["params"]["lags"] == [1, 3]
    assert [(r["cell"], r["lag"]) for r in result["runs"]] == [
        ("rnn", 1),
        ("rnn", 3),
        ("gru", 1),
        ("gru", 3),
    ]
    for run in result["runs"]:
        assert run["r2"] <= 1.0
        assert math.isfinite(run["train_loss"])
        assert run["learned"] == (run["r2"] >= 0.9)
        assert run["initial_grad_ratio"] > 0
        assert run["trained_grad_ratio"] > 0
    for cell in ("rnn", "gru"):
        assert set(result["curves"][cell]) == {"1", "3"}
        assert len(result["curves"][cell]["3"]) == 5
        learned = [
            r["lag"] for r in result["runs"] if r["cell"] == cell and r["learned"]
        ]
        assert result["learned_lags"][cell] == learned

    finished = [p for p in progress if p["stage"] == "run finished"]
    assert [p["done"] for p in finished] == [1, 2, 3, 4]
    assert all(p["total"] == 4 for p in finished)


def test_same_params_give_same_scores() -> None:
    params = {**TINY, "cells": ["lstm"], "lags": [2]}
    first = run_lag_experiment(params)["runs"][0]
    second = run_lag_experiment(params)["runs"][0]
    assert first["r2"] == second["r2"]
    assert first["trained_grad_ratio"] == second["trained_grad_ratio"]


def test_rnn_learns_short_lag() -> None:
    params = {**TINY, "cells": ["rnn"], "lags": [1], "steps": 300, "hidden_size": 16}
    run = run_lag_experiment(params)["runs"][0]
    assert run["r2"] > 0.9
    assert run["learned"] is True


def test_stop_check_cancels() -> None:
    calls = 0

    def stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > 5

    with pytest.raises(TrainingCancelled, match="lag experiment was cancelled"):
        run_lag_experiment(TINY, None, stop)
    assert calls == 6


def test_table_lists_cells_and_lags() -> None:
    result = run_lag_experiment({**TINY, "cells": ["rnn"], "lags": [1], "steps": 5})
    table = lag_table_markdown(result)
    lines = table.splitlines()

    assert lines[0] == "| cell | k = 1 |"
    assert lines[2].startswith("| rnn | R² ")
    assert "grad " in lines[2]

    ratios = initial_ratio_markdown(result).splitlines()
    assert ratios[0] == "| cell | k = 1 |"
    assert ratios[2] == f"| rnn | {result['runs'][0]['initial_grad_ratio']:.1e} |"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lags": [5, 5]}, "more than once"),
        ({"lags": [0]}, "1..500"),
        ({"cells": ["rnn", "rnn"]}, "more than once"),
        ({"cells": ["cnn"]}, "Input should be"),
    ],
)
def test_invalid_params_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LagExperimentParams.model_validate(fields)


def test_test_score_is_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lag_task, "TEST_CHUNK_ROWS", 7)
    params = LagExperimentParams.model_validate({**TINY, "test_size": 30})
    model = Forecaster("gru", input_size=2, hidden_size=8, num_layers=1, horizon=1)

    chunks = list(lag_task._test_batches(params, 3))
    assert [len(x) for x, _ in chunks] == [7, 7, 7, 7, 2]
    assert all(x.shape[1:] == (params.seq_len, 2) for x, _ in chunks)

    test_x = torch.cat([x for x, _ in chunks])
    test_y = torch.cat([y for _, y in chunks])
    model.eval()
    with torch.inference_mode():
        mse = float(torch.nn.functional.mse_loss(model(test_x), test_y))
    whole = 1.0 - mse / float(test_y.var(correction=0))
    # the whole-set MSE is a float32 mean, the chunked one a float64 sum
    assert lag_task._test_r2(model, params, 3) == pytest.approx(whole, abs=1e-5)


def test_mean_forecast_scores_zero_r2() -> None:
    params = LagExperimentParams.model_validate({**TINY, "test_size": 2})
    (_, test_y), *_ = lag_task._test_batches(params, 3)
    model = Forecaster("rnn", input_size=2, hidden_size=8, num_layers=1, horizon=1)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(float(test_y.mean()))

    assert lag_task._test_r2(model, params, 3) == pytest.approx(0.0, abs=1e-6)


def test_test_passes_stay_within_batch_limit() -> None:
    params = LagExperimentParams.model_validate({**TINY, "test_size": 30})
    model = Forecaster("rnn", input_size=2, hidden_size=8, num_layers=1, horizon=1)
    limit = 4 * params.seq_len * params.hidden_size
    rows: list[int] = []
    model.register_forward_pre_hook(lambda _, inputs: rows.append(len(inputs[0])))

    chunked = lag_task._test_r2(model, params, 3, max_batch_elements=limit)
    rows_chunked = list(rows)
    whole = lag_task._test_r2(model, params, 3)

    assert max(rows_chunked) == 4
    assert sum(rows_chunked) == 30
    assert chunked == pytest.approx(whole, abs=1e-6)
