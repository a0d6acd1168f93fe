"""PNG bytes of the report figures: the same data gives the same bytes,
whatever matplotlib style the process or a matplotlibrc set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib
import pytest
from matplotlib.figure import Figure

from models.experiment_plots import error_by_step, save
from models.plots import GradientCurve, lag_experiment_figure, png_bytes

# a matplotlibrc that changes what every figure reads
USER_STYLE = {
    "font.family": "serif",
    "font.size": 14.0,
    "lines.linewidth": 3.0,
    "axes.facecolor": "0.9",
    "savefig.dpi": 50.0,
}


def lag_figure() -> Figure:
    """A small lag-experiment figure: two cells, three lags, T = 8."""
    accuracy = {"rnn": {2: 0.9, 4: 0.5, 6: -0.05}, "gru": {2: 1.0, 4: 0.98, 6: 0.7}}
    curves = [
        GradientCurve("rnn, k = 6", [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0]),
        GradientCurve("gru, k = 6", [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]),
    ]
    return lag_experiment_figure(accuracy, curves, "recall the input k steps back")


def step_figure() -> Figure:
    """A small experiment-report figure: RMSE by step of two forecasters."""
    errors = {"lstm": [1.0, 1.5, 2.0], "naive": [1.2, 1.7, 2.1]}
    return error_by_step(errors, "error by step", "USD", dashed=("naive",))


@pytest.mark.parametrize("build", [lag_figure, step_figure])
def test_same_figure_same_bytes(build: Callable[[], Figure], tmp_path: Path) -> None:
    first = png_bytes(build())

    second = png_bytes(build())
    written = save(build(), tmp_path / "figure.png").read_bytes()

    assert first == second
    assert first == written


@pytest.mark.parametrize("build", [lag_figure, step_figure])
def test_user_style_leaves_bytes_unchanged(build: Callable[[], Figure]) -> None:
    expected = png_bytes(build())

    with matplotlib.rc_context(USER_STYLE):
        image = png_bytes(build())

    assert image == expected
