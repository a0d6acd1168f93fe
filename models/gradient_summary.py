"""Summary numbers of a gradient-norm curve through time.

The curve is n_t = ||dL/dh_t|| for t = 0 .. T-1, where h_t is the state
after input x_t (h_{t+1} in the numbering of ``unroll``, which starts at the
initial state h_0), with the loss on the output at the last step. Distance
d = T-1-t counts the steps back from the last step, and the ratio
n_t / n_{T-1} is the gradient at distance d relative to the gradient at
the last step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# A gradient has vanished at the first distance where its ratio to the last
# step's gradient is below VANISH_RATIO, and exploded where it is above
# EXPLODE_RATIO.
VANISH_RATIO = 1e-3
EXPLODE_RATIO = 1e3


@dataclass(frozen=True)
class GradientSummary:
    """Rates and distances read off one gradient-norm curve.

    ``rate_per_step`` is exp(b) for the least-squares line
    log n = a + b * d over the points with n > 0: the factor by which the
    gradient changes per step back in time (below 1 it vanishes, above 1 it
    explodes). ``log10_per_step`` is b / ln 10, in orders of magnitude per
    step. ``vanish_distance`` and ``explode_distance`` are the first
    distances whose ratio is below ``VANISH_RATIO`` or above
    ``EXPLODE_RATIO``, or None when no distance crosses.
    """

    rate_per_step: float | None
    log10_per_step: float | None
    fit_points: int
    first_to_last_ratio: float
    vanish_distance: int | None
    explode_distance: int | None


def summarize_gradient_norms(norms: np.ndarray) -> GradientSummary:
    """Summarise norms (T,), oldest step first, with norms[-1] > 0."""
    if norms.ndim != 1 or len(norms) < 2:
        raise ValueError(
            f"summarize_gradient_norms: norms must have shape (T,) with T >= 2, "
            f"got {norms.shape}"
        )
    last = float(norms[-1])
    if not last > 0.0:
        raise ValueError(
            f"summarize_gradient_norms: the last norm must be positive, got {last}"
        )

    # distance d = 0 at the last step, T-1 at the first
    ratios = norms[::-1] / last
    distances = np.arange(len(norms), dtype=np.float64)
    slope, points = _log_slope(distances, ratios)

    return GradientSummary(
        rate_per_step=None if slope is None else math.exp(slope),
        log10_per_step=None if slope is None else slope / math.log(10.0),
        fit_points=points,
        first_to_last_ratio=float(ratios[-1]),
        vanish_distance=_first_distance(ratios < VANISH_RATIO),
        explode_distance=_first_distance(ratios > EXPLODE_RATIO),
    )


def _log_slope(distances: np.ndarray, ratios: np.ndarray) -> tuple[float | None, int]:
    """Slope b of log(ratio) = a + b * d over the positive ratios."""
    positive = ratios > 0.0
    points = int(positive.sum())
    if points < 2:
        return None, points
    slope, _ = np.polyfit(distances[positive], np.log(ratios[positive]), deg=1)
    return float(slope), points


def _first_distance(crossed: np.ndarray) -> int | None:
    hits = np.flatnonzero(crossed)
    return int(hits[0]) if len(hits) else None
