"""Figures of gradient diagnostics: gradient norms through time, gradient
norms per training epoch and the lag experiment.

Figures use matplotlib's object API on the Agg canvas (``new_figure`` of
``models.experiment_plots``), so no pyplot state is shared between threads
or calls and the service can render them on its worker threads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from models.experiment_plots import blank_figure, new_figure
from models.gradient_summary import EXPLODE_RATIO, VANISH_RATIO
from models.gradients import GradientFlow

# decades of the y range of a gradient plot: float64 reaches from about
# 5e-324 (subnormal) to 1.8e308
MIN_DECADE = -323
MAX_DECADE = 308
MAX_DECADE_TICKS = 8
# decades between ticks; 100 * 8 covers the whole float64 range
DECADE_STRIDES = (1, 2, 5, 10, 20, 25, 50, 100)


@dataclass(frozen=True)
class GradientCurve:
    """One curve: ||dL/dh_t|| (T,) oldest first and, optionally, the running
    Jacobian-norm products (T,) aligned with it."""

    label: str
    grad_norms: Sequence[float]
    jacobian_products: Sequence[float | None] | None = None

    @classmethod
    def from_flow(cls, label: str, flow: GradientFlow) -> GradientCurve:
        return cls(label, flow.trace.grad_norms, flow.trace.jacobian_products)


def png_bytes(figure: Figure) -> bytes:
    """Render ``figure`` as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def gradient_flow_figure(curves: Sequence[GradientCurve], title: str) -> Figure:
    """Plot ||dL/dh_t|| / ||dL/dh_{T-1}|| against t on a log axis, one colour
    per curve, with the Jacobian-norm product as a dotted line of the same
    colour where given. Dashed grey lines mark the 1e-3 and 1e3 ratios."""
    figure, axes = new_figure()
    draw_gradient_curves(axes, curves)
    axes.set_title(title)
    return figure


def draw_gradient_curves(axes: Axes, curves: Sequence[GradientCurve]) -> None:
    """Draw the curves of ``gradient_flow_figure`` on ``axes``."""
    plotted: list[np.ndarray] = [np.array([VANISH_RATIO, EXPLODE_RATIO])]
    for index, curve in enumerate(curves):
        colour = f"C{index}"
        norms = np.asarray(curve.grad_norms, dtype=np.float64)
        steps = np.arange(len(norms))
        ratios = _masked(norms / norms[-1])
        axes.plot(steps, ratios, color=colour, label=curve.label)
        plotted.append(ratios)
        if curve.jacobian_products is not None:
            products = np.array(
                [np.nan if v is None else v for v in curve.jacobian_products],
                dtype=np.float64,
            )
            axes.plot(
                steps,
                _masked(products),
                color=colour,
                linestyle=":",
                label=f"{curve.label}: product of ||ds_t/ds_(t-1)||",
            )
            plotted.append(_masked(products))

    for ratio in (VANISH_RATIO, EXPLODE_RATIO):
        axes.axhline(ratio, color="grey", linestyle="--", linewidth=0.8)
    _set_log_axis(axes, np.concatenate(plotted))
    axes.set_xlabel("time step t (loss on the output at the last step)")
    axes.set_ylabel("||dL/dh_t|| / ||dL/dh_(T-1)||")
    axes.legend(fontsize="small")


def training_gradients_figure(
    epochs: Sequence[Mapping[str, Any]], clip_norm: float | None, title: str
) -> Figure:
    """Plot the mean and max global gradient norm per epoch (log axis) with
    the clipping threshold, and the fraction of clipped batches on a second
    axis. ``epochs`` are the stored history records."""
    figure, axes = new_figure()
    numbers = [int(record["epoch"]) for record in epochs]
    axes.plot(numbers, [r["grad_norm"] for r in epochs], marker="o", label="mean")
    axes.plot(numbers, [r["grad_norm_max"] for r in epochs], marker="^", label="max")
    if clip_norm is not None:
        axes.axhline(clip_norm, color="grey", linestyle="--", label="clip threshold")
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("global gradient L2 norm before clipping")
    axes.legend(fontsize="small", loc="upper left")

    fraction = axes.twinx()
    fraction.bar(
        numbers, [r["clip_fraction"] for r in epochs], alpha=0.2, color="C3", width=0.6
    )
    fraction.set_ylim(0.0, 1.0)
    fraction.set_ylabel("fraction of batches clipped")
    axes.set_title(title)
    return figure


def lag_experiment_figure(
    accuracy: Mapping[str, Mapping[int, float]],
    curves: Sequence[GradientCurve],
    title: str,
) -> Figure:
    """Plot R^2 per lag for each cell (left) beside gradient curves (right).

    ``accuracy`` maps a cell name to {lag: R^2 on held-out sequences}.
    """
    figure = blank_figure((11.0, 4.0))
    left, right = figure.subplots(1, 2)

    for index, (cell, by_lag) in enumerate(accuracy.items()):
        lags = sorted(by_lag)
        left.plot(
            lags,
            [by_lag[lag] for lag in lags],
            marker="o",
            color=f"C{index}",
            label=cell,
        )
    left.axhline(0.0, color="grey", linewidth=0.8)
    left.set_xlabel("lag k (steps between the input and the output)")
    left.set_ylabel("R^2 on held-out sequences")
    left.set_ylim(-0.1, 1.05)
    left.legend(fontsize="small")
    left.set_title("accuracy")

    draw_gradient_curves(right, curves)
    right.set_title("gradient through time after training")
    figure.suptitle(title)
    return figure


def _set_log_axis(axes: Axes, values: np.ndarray) -> None:
    """Make the y axis logarithmic over the finite ``values`` (N,) plus half
    a decade each side, with at most ``MAX_DECADE_TICKS`` ticks at whole
    decades.

    matplotlib 3.11's autoscaling pads a log axis by 5 % of its decades and
    its locator places ticks one step beyond the range, so data near 1e300
    would get limits or ticks beyond float64. The limits are set before the
    scale, which turns that autoscaling off.
    """
    shown = values[np.isfinite(values)]
    low = max(math.log10(float(shown.min())) - 0.5, MIN_DECADE)
    high = min(math.log10(float(shown.max())) + 0.5, MAX_DECADE)
    span = math.ceil(high) - math.floor(low)
    stride = next(step for step in DECADE_STRIDES if step * MAX_DECADE_TICKS >= span)
    decades = np.arange(math.ceil(low / stride) * stride, high, stride)
    axes.set_ylim(10.0**low, 10.0**high)
    axes.set_yscale("log")
    axes.yaxis.set_major_locator(FixedLocator(10.0 ** decades.astype(np.float64)))
    axes.yaxis.set_minor_locator(NullLocator())


def _masked(values: np.ndarray) -> np.ndarray:
    """Replace non-positive and non-finite values by NaN, which a log axis
    leaves out."""
    result = values.astype(np.float64).copy()
    result[~np.isfinite(result) | (result <= 0.0)] = np.nan
    return result
