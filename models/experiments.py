"""Reproducible experiments written as Markdown tables and PNG plots.

``synthetic``: sine, noisy sine, AR(1) and Mackey-Glass (tau = 17) with RNN,
LSTM and GRU cells, errors set against the noise floor where the generator
fixes it. ``nflx``: the bundled NFLX closes with the three cells on price and
on log-return targets, beside the naive, drift and mean baselines.

Every fit is seeded, so a rerun on the same machine writes the same numbers
(the header's date and run time aside).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.baselines import forecast_baselines, season_period
from models.data.series import Series
from models.data.sources import load_series
from models.evaluation import actual_prices, errors_by_step
from models.experiment_plots import error_by_step, forecast_vs_actual, loss_curves, save
from models.experiment_report import direction, figures, header, number, percent, table
from models.spec import BundledData, SyntheticData, TrainingSpec
from models.training import FitResult, fit, predict_prices, spec_windows

logger = logging.getLogger(__name__)

CELLS = ("rnn", "lstm", "gru")
REPORT_LEVEL = "0.9"

# Test origins shown in the forecast-against-actual plots (the last ones).
PLOTTED_ORIGINS = 200


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Model and run sizes shared by every fit of one experiment run."""

    length: int
    hidden_size: int
    lookback: int
    horizon: int
    epochs: int
    patience: int
    batch_size: int
    learning_rate: float


# `rnn-forecast experiments all` took 2.5 to 3 min (two runs) with one torch
# thread on a shared machine with 2 CPU cores and a load average near 8.
FULL = Sizes(
    length=1500,
    hidden_size=32,
    lookback=40,
    horizon=10,
    epochs=40,
    patience=6,
    batch_size=64,
    learning_rate=3e-3,
)

# Seconds per suite; for tests of the command, not for conclusions.
QUICK = Sizes(
    length=300,
    hidden_size=4,
    lookback=10,
    horizon=3,
    epochs=1,
    patience=1,
    batch_size=128,
    learning_rate=1e-2,
)

SYNTHETIC_SERIES: dict[str, SyntheticData] = {
    "sine": SyntheticData(generator="sine", period=50, noise=0.0),
    "noisy_sine": SyntheticData(generator="noisy_sine", period=50, noise=0.2),
    "ar1": SyntheticData(generator="ar1", phi=0.8, noise=0.1),
    "mackey_glass": SyntheticData(generator="mackey_glass", noise=0.0),
}


@dataclasses.dataclass(frozen=True)
class CellRun:
    """One fitted cell with its test forecasts.

    ``step1_dates`` (W,) are the dates of the first target of each test
    window; actuals, forecasts and each baseline are (W, K) in series units.
    """

    cell: str
    spec: TrainingSpec
    result: FitResult
    step1_dates: list[dt.date]
    actual: np.ndarray
    forecast: np.ndarray
    baselines: dict[str, np.ndarray]


def experiment_spec(
    name: str, cell: str, data: Any, target: str, sizes: Sizes
) -> TrainingSpec:
    """Build the training spec of one experiment fit."""
    return TrainingSpec(
        name=name,
        cell=cell,
        hidden_size=sizes.hidden_size,
        num_layers=1,
        lookback=sizes.lookback,
        horizon=sizes.horizon,
        target=target,
        epochs=sizes.epochs,
        patience=sizes.patience,
        batch_size=sizes.batch_size,
        learning_rate=sizes.learning_rate,
        data=data,
    )


def run_cell(spec: TrainingSpec, series: Series) -> CellRun:
    """Fit ``spec`` and forecast its test windows again for the plots."""
    result = fit(spec, series)
    data = spec_windows(spec, series)
    origins = data.test_origin
    forecast = predict_prices(
        result.model, data.x_test, data.prices[origins], result.scaler, spec.target
    )
    baselines = forecast_baselines(
        data.prices, origins, spec.horizon, season=season_period(spec.data)
    )
    logger.info(
        "%s: %d epochs in %.1f s, test RMSE %.4g",
        spec.name,
        len(result.history),
        result.seconds,
        result.metrics["model"]["rmse"],
    )
    return CellRun(
        cell=spec.cell,
        spec=spec,
        result=result,
        step1_dates=[series.frame.index[o + 1].date() for o in origins],
        actual=actual_prices(data.prices, origins, spec.horizon),
        forecast=forecast,
        baselines=baselines,
    )


def noise_floor_by_step(data: SyntheticData, horizon: int) -> list[float] | None:
    """Standard deviation of the best possible k-step error, k = 1..K.

    sine: 0. noisy_sine: sigma at every step, because the sine is known.
    ar1: sigma sqrt((1 - phi^2k) / (1 - phi^2)), the k-step innovation sum.
    Mackey-Glass and the other generators: None (not known in closed form).
    """
    steps = np.arange(1, horizon + 1)
    if data.generator == "sine":
        return [0.0] * horizon
    if data.generator == "noisy_sine":
        return [data.noise] * horizon
    if data.generator == "ar1":
        ratio = (1.0 - data.phi ** (2 * steps)) / (1.0 - data.phi**2)
        return [float(v) for v in data.noise * np.sqrt(ratio)]
    return None


def pooled_floor(floor: Sequence[float]) -> float:
    """Return the RMSE over all steps of a forecaster at the floor."""
    return float(np.sqrt(np.mean(np.square(floor))))


def write_plots(
    runs: Sequence[CellRun],
    slug: str,
    title: str,
    folder: Path,
    unit: str,
    floor: Sequence[float] | None = None,
) -> list[str]:
    """Write the loss, forecast and error-by-step PNGs of one series and
    return their file names.

    The error plot shows every baseline but ``mean``, whose error on
    trending prices is off the scale; the tables list it.
    """
    histories = {run.cell: run.result.history for run in runs}
    figure = loss_curves(histories, f"{title}: loss")
    names = [save(figure, folder / f"{slug}_loss.png").name]

    first = runs[0]
    shown = slice(-PLOTTED_ORIGINS, None)
    dates = first.step1_dates[shown]
    forecasts = {run.cell: run.forecast[shown, 0] for run in runs}
    figure = forecast_vs_actual(
        dates,
        first.actual[shown, 0],
        forecasts,
        f"{title}: one step ahead, last {len(dates)} test days",
        unit,
    )
    names.append(save(figure, folder / f"{slug}_forecast.png").name)

    errors = {
        run.cell: errors_by_step(run.actual, run.forecast)["rmse"] for run in runs
    }
    for name, values in first.baselines.items():
        if name != "mean":
            errors[name] = errors_by_step(first.actual, values)["rmse"]
    figure = error_by_step(
        errors,
        f"{title}: error by horizon step",
        unit,
        floor,
        dashed=set(first.baselines),
    )
    names.append(save(figure, folder / f"{slug}_horizon.png").name)
    return names


SYNTHETIC_TITLES = {
    "sine": "Sine",
    "noisy_sine": "Noisy sine",
    "ar1": "AR(1)",
    "mackey_glass": "Mackey-Glass",
}


def sizes_text(sizes: Sizes, data_text: str) -> str:
    """Describe the settings that every fit of a report shares, after
    ``data_text``, the sentence on the data."""
    return (
        f"{data_text} Every cell has one layer of {sizes.hidden_size} units, "
        f"lookback {sizes.lookback} and horizon {sizes.horizon}, and is trained "
        f"with Adam at learning rate {sizes.learning_rate} on batches of "
        f"{sizes.batch_size} for at most {sizes.epochs} epochs, stopping after "
        f"{sizes.patience} without validation improvement (seed 0). The split "
        "is chronological: 70 % training, 15 % validation, 15 % test. Errors "
        "are on the test part, pooled over all horizon steps unless a column "
        "says k = 1."
    )


def run_synthetic(out: Path, sizes: Sizes, command: str) -> Path:
    """Run the synthetic suite and write ``synthetic.md`` and its PNGs."""
    started = time.perf_counter()
    rows: list[list[str]] = []
    sections: list[tuple[str, list[str]]] = []
    for slug, base in SYNTHETIC_SERIES.items():
        data = base.model_copy(update={"length": sizes.length})
        series = load_series(data)
        runs = [
            run_cell(
                experiment_spec(f"exp-{slug}-{cell}", cell, data, "price", sizes),
                series,
            )
            for cell in CELLS
        ]
        floor = noise_floor_by_step(data, sizes.horizon)
        title = SYNTHETIC_TITLES[slug]
        names = write_plots(runs, slug, title, out / "synthetic", "value", floor)
        sections.append((title, [f"synthetic/{name}" for name in names]))
        rows.extend(synthetic_row(title, run, floor) for run in runs)

    columns = [
        "series", "cell", "RMSE", "RMSE k=1", "noise floor", "RMSE / floor",
        "naive RMSE", "best baseline (RMSE)", "skill vs naive",
        f"{REPORT_LEVEL} interval coverage", "epochs",
    ]  # fmt: skip
    settings = sizes_text(
        sizes,
        f"Each series has {sizes.length} steps from `models/data/synthetic.py`: "
        "sine (period 50, no noise), noisy sine (period 50, noise 0.2), AR(1) "
        "(phi 0.8, noise 0.1) and Mackey-Glass (tau 17, no noise).",
    )
    text = "\n".join(
        [
            header(
                "Synthetic series: RNN, LSTM and GRU against the noise floor",
                command,
                time.perf_counter() - started,
                settings,
            ),
            SYNTHETIC_NOTES,
            "",
            table(columns, rows),
            "",
            "## Figures",
            "",
            figures(sections),
        ]
    )
    path = out / "synthetic.md"
    path.write_text(text)
    return path


SYNTHETIC_NOTES = """\
The noise floor is the RMSE of the best possible forecast, pooled over the
steps: 0 for the sine, the noise level 0.2 for the noisy sine at every step,
and 0.1 sqrt((1 - 0.8^2k) / (1 - 0.8^2)) at step k for AR(1). Mackey-Glass has
no closed form, so its floor is left blank. `RMSE / floor` near 1 means the
cell extracts all the predictable signal. Skill is 1 - RMSE / naive RMSE, so 0
ties the last-value forecast. The seasonal naive baseline repeats the value
one period (50 steps) earlier. Coverage is the share of test actuals inside
the split conformal interval calibrated on the validation part."""


def synthetic_row(title: str, run: CellRun, floor: Sequence[float] | None) -> list[str]:
    """Format one table row of the synthetic report."""
    metrics = run.result.metrics
    rmse_value = metrics["model"]["rmse"]
    floor_value = pooled_floor(floor) if floor is not None else None
    ratio = None
    if floor_value:
        ratio = rmse_value / floor_value
    step1 = metrics["by_step"]["model"]["rmse"][0]
    best = metrics["best_baseline"]
    coverage = metrics.get("intervals", {}).get(REPORT_LEVEL, {}).get("coverage")
    return [
        title,
        run.cell,
        number(rmse_value),
        number(step1),
        number(floor_value),
        number(ratio, 3),
        number(metrics["naive"]["rmse"]),
        f"{best} ({number(metrics['baselines'][best]['rmse'])})",
        number(metrics["skill_rmse"], 3),
        number(coverage, 3),
        str(len(run.result.history)),
    ]


NFLX_TARGETS = ("price", "log_return")

NFLX_NOTES = """\
Prices are in USD. MASE divides the MAE by the in-sample one-step naive MAE
of the training part (2002 onwards, when prices were far lower), hence its
size. Return RMSE is the error of the simple return from the last observed
close, in percent. Direction is the share of step-1 forecasts that move the
same way as the next close, with its 95 % Wilson interval. Flat forecasts
such as the naive one have no direction. Skill is 1 - RMSE / naive RMSE: a
negative value loses to "tomorrow equals today". Daily stock prices have no
stable season, so there is no seasonal naive baseline."""


def price_range_text(series: Series, split: dict[str, Any]) -> str:
    """State the close ranges of the training and test parts, which explain
    why a price-target model fails where a log-return one does not."""
    close = series.frame["close"]
    train = close.loc[: split["train"]["end"]]
    test = close.loc[split["test"]["start"] :]
    return (
        f"The training part's closes stay between {train.min():.2f} and "
        f"{train.max():.2f} USD, while the test part's closes range from "
        f"{test.min():.2f} to {test.max():.2f} USD. A price-target model "
        "predicts in the scaled units of its training part and does not reach "
        "that range. A log-return target does not depend on the price level."
    )


def run_nflx(out: Path, sizes: Sizes, command: str) -> Path:
    """Run the NFLX suite and write ``nflx.md`` and its PNGs."""
    started = time.perf_counter()
    data = BundledData()
    series = load_series(data)
    rows: list[list[str]] = []
    sections: list[tuple[str, list[str]]] = []
    for target in NFLX_TARGETS:
        runs = [
            run_cell(
                experiment_spec(f"exp-nflx-{target}-{cell}", cell, data, target, sizes),
                series,
            )
            for cell in CELLS
        ]
        title = f"NFLX, {target.replace('_', '-')} target"
        names = write_plots(runs, f"nflx_{target}", title, out / "nflx", "USD")
        sections.append((title, [f"nflx/{name}" for name in names]))
        naive_rmse = runs[0].result.metrics["naive"]["rmse"]
        for run in runs:
            metrics = run.result.metrics
            coverage = metrics.get("intervals", {}).get(REPORT_LEVEL, {})
            row = nflx_row(target, run.cell, metrics["model"], naive_rmse)
            row.append(number(coverage.get("coverage"), 3))
            rows.append(row)
        for name, scores in runs[0].result.metrics["baselines"].items():
            rows.append(nflx_row(target, name, scores, naive_rmse) + ["—"])

    split = runs[0].result.split
    columns = [
        "target", "forecaster", "RMSE", "MAE", "MAPE %", "sMAPE %", "MASE",
        "return RMSE %", "direction k=1 [95 % CI]", "skill vs naive",
        f"{REPORT_LEVEL} interval coverage",
    ]  # fmt: skip
    settings = sizes_text(
        sizes,
        f"Data: the bundled NFLX daily closes, {series.start}..{series.end} "
        f"({len(series.frame)} rows); test part {split['test']['start']}.."
        f"{split['test']['end']} ({split['test']['windows']} windows).",
    )
    text = "\n".join(
        [
            header(
                "NFLX: RNN, LSTM and GRU against the baselines",
                command,
                time.perf_counter() - started,
                settings,
            ),
            NFLX_NOTES,
            "",
            price_range_text(series, split),
            "",
            table(columns, rows),
            "",
            "## Figures",
            "",
            figures(sections),
        ]
    )
    path = out / "nflx.md"
    path.write_text(text)
    return path


def nflx_row(
    target: str, label: str, scores: dict[str, Any], naive_rmse: float
) -> list[str]:
    """Format one table row of the NFLX report, without the coverage column."""
    return [
        target,
        label,
        number(scores["rmse"]),
        number(scores["mae"]),
        number(scores["mape"], 3),
        number(scores["smape"], 3),
        number(scores["mase"]),
        percent(scores.get("return_rmse")),
        direction(scores),
        number(1.0 - scores["rmse"] / naive_rmse, 3),
    ]


SUITES = {"synthetic": run_synthetic, "nflx": run_nflx}
