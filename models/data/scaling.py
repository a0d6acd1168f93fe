"""Scalers fitted on the training part only and stored in checkpoint metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ScalerKind = Literal["standard", "minmax"]


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

    A constant training part would give a zero scale, so the scale falls back
    to 1 there and the values are only shifted.
    """
    values = np.asarray(train_values, dtype=np.float64)
    minimum = float(values.min())
    maximum = float(values.max())

    if kind == "standard":
        shift, scale = float(values.mean()), float(values.std())
    elif kind == "minmax":
        shift, scale = minimum, maximum - minimum
    else:
        raise ValueError(f"scaler kind {kind!r} is unknown; use standard or minmax")

    if not np.isfinite(scale) or scale <= 1e-12:
        scale = 1.0
    return Scaler(kind, shift, scale, minimum, maximum)
