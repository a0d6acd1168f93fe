"""Figures of the experiment reports: loss curves, forecasts against actuals
and error by horizon step.

Figures are built with matplotlib's object API on the Agg canvas, so no
pyplot state is shared between threads or calls. Every figure is drawn in
matplotlib's built-in style, so the same data gives the same PNG bytes
whatever matplotlibrc the working folder, ``$MPLCONFIGDIR`` or
``$MATPLOTLIBRC`` contains.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import matplotlib.style
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from models.training import EpochRecord

DPI = 90
SIZE = (7.5, 4.0)


def blank_figure(size: tuple[float, float] = SIZE) -> Figure:
    """Create a figure of ``size`` inches on an Agg canvas, in matplotlib's
    built-in style.

    A matplotlibrc changes fonts, line widths, colours and more, which figures
    and their artists read from ``matplotlib.rcParams`` when they are created
    and drawn.

    NOTE: the style is set on the process-wide rcParams, so it replaces any
    style that the process set before. ``style.use`` updates the values in
    place and every figure sets the same values, so threads that draw at the
    same time read valid parameters.
    """
    matplotlib.style.use("default")
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def new_figure() -> tuple[Figure, Axes]:
    """Create a figure as ``blank_figure`` does, with one axes."""
    figure = blank_figure()
    return figure, figure.add_subplot()


def save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as PNG to ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata={"Software": None})
    return path


def loss_curves(histories: Mapping[str, Sequence[EpochRecord]], title: str) -> Figure:
    """Training (solid) and validation (dashed) MSE per epoch, in scaled
    units on a log axis, one colour per run."""
    figure, axes = new_figure()
    for index, (label, history) in enumerate(histories.items()):
        colour = f"C{index}"
        epochs = [record.epoch for record in history]
        axes.plot(epochs, [r.train_loss for r in history], color=colour, label=label)
        axes.plot(
            epochs,
            [r.val_loss for r in history],
            color=colour,
            linestyle="--",
            label=f"{label} (validation)",
        )
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("MSE, scaled units")
    axes.set_title(title)
    axes.legend(fontsize="small", ncols=2)
    return figure


def forecast_vs_actual(
    dates: Sequence[object],
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    title: str,
    unit: str,
) -> Figure:
    """Actual values (N,) and each forecaster's values (N,) on the same dates."""
    figure, axes = new_figure()
    axes.plot(dates, actual, color="black", linewidth=1.6, label="actual")
    for index, (label, values) in enumerate(forecasts.items()):
        axes.plot(dates, values, color=f"C{index}", linewidth=0.9, label=label)
    axes.set_ylabel(unit)
    axes.set_title(title)
    axes.legend(fontsize="small", ncols=3)
    figure.autofmt_xdate()
    return figure


def error_by_step(
    errors: Mapping[str, Sequence[float]],
    title: str,
    unit: str,
    floor: Sequence[float] | None = None,
    dashed: Collection[str] = (),
) -> Figure:
    """RMSE per horizon step k = 1..K for each forecaster, and the noise
    floor where it is known; the forecasters in ``dashed`` (the baselines)
    get dashed lines."""
    figure, axes = new_figure()
    for index, (label, values) in enumerate(errors.items()):
        steps = np.arange(1, len(values) + 1)
        axes.plot(
            steps,
            values,
            marker="o",
            color=f"C{index}",
            linestyle="--" if label in dashed else "-",
            label=label,
        )
    if floor is not None:
        steps = np.arange(1, len(floor) + 1)
        axes.plot(steps, floor, color="black", linestyle=":", label="noise floor")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("horizon step k")
    axes.set_ylabel(f"RMSE, {unit}")
    axes.set_title(title)
    axes.legend(fontsize="small", ncols=2)
    return figure
