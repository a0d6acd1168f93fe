"""Scalers fitted on the training part only and stored in checkpoint metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ScalerKind = Literal["standard", "minmax"]

# A training part whose spread (standard deviation or range) is at most this
# counts as constant, so its scale falls back to 1 and it is only shifted.
SCALE_FLOOR = 1e-12


@dataclass(frozen=True)
class Scaler:
    """An affine map ``scaled = (x - shift) / scale`` with its fitted statistics.

    For ``standard`` the shift is the mean and the scale the standard
    deviation; for ``minmax`` the shift is the minimum and the scale the range,
    so training values map onto [0, 1].
    """

    kind: ScalerKind
    shift: float
    scale: float
    minimum: float
    maximum: float

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.shift) / self.scale

    def inverse(self, x: np.ndarray) -> np.ndarray:
        return x * self.scale + self.shift

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "shift": self.shift,
            "scale": self.scale,
            "min": self.minimum,
            "max": self.maximum,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        return cls(
            kind=data["kind"],
            shift=float(data["shift"]),
            scale=float(data["scale"]),
            minimum=float(data["min"]),
            maximum=float(data["max"]),
        )


def fit_scaler(kind: ScalerKind, train_values: np.ndarray) -> Scaler:
    """Fit a scaler on ``train_values`` (N,) and nothing else.

    A constant training part would give a zero scale, so a spread at most
    ``SCALE_FLOOR`` falls back to a scale of 1 and the values are only
    shifted.
    """
    values = np.asarray(train_values, dtype=np.float64)
    shift, scale = shift_and_spread(kind, values)
    if not np.isfinite(scale) or scale <= SCALE_FLOOR:
        scale = 1.0
    return Scaler(kind, shift, scale, float(values.min()), float(values.max()))


def shift_and_spread(kind: ScalerKind, values: np.ndarray) -> tuple[float, float]:
    """Return the shift and the spread of ``values`` (N,) that a ``kind``
    scaler uses: mean and standard deviation, or minimum and range."""
    if kind == "standard":
        return float(values.mean()), float(values.std())
    if kind == "minmax":
        minimum = float(values.min())
        return minimum, float(values.max()) - minimum
    raise ValueError(f"scaler kind {kind!r} is unknown; use standard or minmax")
