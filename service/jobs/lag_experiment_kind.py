"""The ``lag_experiment`` job kind: RNN, LSTM and GRU trained to recall an
input k steps back (``models.lag_task``), exactly as ``rnn-forecast
gradients lag-experiment`` runs it. The result lists R^2 and the gradient
ratio at the lag per cell and lag, and the gradient curves after training.
"""

from __future__ import annotations

from typing import Any

from models.diagnostic_limits import check_lag_batch
from models.lag_task import LagExperimentParams, run_lag_experiment
from models.limits import check_limit, limits_from_env
from service.jobs.kinds import JobContext, register_job_kind
from service.settings import Settings

LAG_EXPERIMENT = "lag_experiment"


def check_lag_experiment(params: LagExperimentParams, settings: Settings) -> None:
    """Reject a hidden size, sequence length or training batch above the
    diagnostic limits."""
    check_limit(
        "hidden_size",
        params.hidden_size,
        settings.max_diagnostic_hidden_size,
        "RNN_FORECAST_MAX_DIAGNOSTIC_HIDDEN_SIZE",
    )
    # the sequence length is max(lags) + padding
    check_limit(
        "lags", params.seq_len, settings.max_seq_len, "RNN_FORECAST_MAX_SEQ_LEN"
    )
    check_lag_batch(
        params.batch_size, params.seq_len, params.hidden_size, settings.limits()
    )


def run_lag_experiment_job(
    params: LagExperimentParams, ctx: JobContext
) -> dict[str, Any]:
    """Run the experiment, reporting progress every 100 steps and per run."""
    limits = limits_from_env()
    return run_lag_experiment(
        params,
        ctx.report,
        ctx.should_stop,
        max_batch_elements=limits.max_lag_batch_elements,
    )


register_job_kind(
    LAG_EXPERIMENT,
    LagExperimentParams,
    run_lag_experiment_job,
    check=check_lag_experiment,
)
