"""Checks that a stored version contains the finite numbers that training writes.

Training stops at a non-finite loss (``models.training.check_finite``) and
writes no version then. A version written by a run that diverged without
that check can hold NaN weights, and nulls (the JSON form of NaN and
infinity) in its scaler and history. Such a version can neither forecast
nor be analysed by the gradient-flow diagnostic, and its history cannot be
printed as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from models.errors import InvalidInputError

SCALER_FIELDS = ("shift", "scale")
# the numbers of one epoch that the gradient table prints
GRADIENT_FIELDS = ("grad_norm", "grad_norm_max", "clip_fraction")


@dataclass(frozen=True)
class VersionUse:
    """The use a request makes of a stored version, worded for the error on
    a version that cannot be used. It gives the failure (``cannot
    forecast``), the request field that names the version, and the fix."""

    failure: str
    field: str
    fix: str


FORECAST = VersionUse(
    "cannot forecast", "version", "use another version, or train a new one"
)
GRADIENT_FLOW = VersionUse(
    "cannot be analysed by the gradient-flow diagnostic",
    "model.version",
    "analyse another version, or leave the model out to analyse a fresh network",
)


def check_scaler(
    metadata: Mapping[str, Any], label: str, use: VersionUse = FORECAST
) -> None:
    """Raise ``InvalidInputError`` naming ``label`` and ``use`` when the
    stored scaler's shift or scale is null or not finite."""
    scaler = metadata.get("scaler") or {}
    bad = [
        f"scaler.{key}"
        for key in SCALER_FIELDS
        if key in scaler and not _is_finite(scaler[key])
    ]
    if bad:
        raise _diverged_version(label, " and ".join(bad), use)


def check_weights(
    state: Mapping[str, torch.Tensor], label: str, use: VersionUse = FORECAST
) -> None:
    """Raise ``InvalidInputError`` naming ``label`` and ``use`` when a weight
    tensor of ``state`` contains NaN or infinity."""
    bad = sorted(name for name, tensor in state.items() if not tensor.isfinite().all())
    if bad:
        raise _diverged_version(label, "the weights " + ", ".join(bad), use)


def check_gradient_history(metadata: Mapping[str, Any], label: str) -> None:
    """Raise ``InvalidInputError`` naming ``label`` and the epochs whose
    gradient norms or clip fraction are null or not finite."""
    epochs = [
        int(record["epoch"])
        for record in metadata.get("history") or []
        if not all(_is_finite(record.get(key)) for key in GRADIENT_FIELDS)
    ]
    if epochs:
        raise InvalidInputError(
            f"{label} has no finite gradient norms for "
            f"{'epoch' if len(epochs) == 1 else 'epochs'} "
            f"{', '.join(map(str, epochs))}, because its training diverged; "
            "--json prints the stored history, with null for those numbers",
            field="version",
        )


def _diverged_version(label: str, fields: str, use: VersionUse) -> InvalidInputError:
    """Return the error for version ``label`` whose ``fields`` are not
    finite, for a request that would ``use`` it."""
    return InvalidInputError(
        f"{label} {use.failure}: its training diverged and left {fields} not "
        f"finite; {use.fix}",
        field=use.field,
    )


def _is_finite(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
