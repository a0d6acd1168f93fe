"""The schema of a version's ``metadata.json``, checked once when it is read.

Every reader of a stored version (the forecast, the gradient-flow
diagnostic, the listing, the version route, health and the command line)
goes through ``Registry.metadata`` or ``Registry.load``, which check the
parsed document against ``StoredMetadata``. So a file that parses as JSON
but has a field of the wrong type or shape fails in one way everywhere.

Numbers that training can leave non-finite (the scaler, the tail, the
interval half-widths) may be null, because ``json_safe`` writes NaN and
infinity as null. ``models.version_checks`` reports those as a diverged
training run. Fields the registry does not read are kept as they are
(``extra="allow"``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    model_validator,
)

from models.data.windows import history_rows
from models.spec import Target

# a JSON number, or null where a non-finite float was written
Number = float | None
PositiveInt = Field(strict=True, ge=1)


class _Stored(BaseModel):
    """A JSON object that may contain more keys than the registry reads."""

    model_config = ConfigDict(extra="allow", strict=True)


class StoredSpec(_Stored):
    """The training spec fields that a forecast reads."""

    target: Target
    cell: StrictStr | None = None
    lookback: int = PositiveInt
    horizon: int = PositiveInt


class StoredModelConfig(_Stored):
    """The arguments of ``Forecaster.from_config``."""

    cell: StrictStr
    input_size: int = PositiveInt
    hidden_size: int = PositiveInt
    num_layers: int = PositiveInt
    horizon: int = PositiveInt
    dropout: float = 0.0


class StoredScaler(_Stored):
    """The arguments of ``Scaler.from_dict``."""

    kind: StrictStr
    shift: Number
    scale: Number
    min: Number
    max: Number


class StoredWeights(_Stored):
    file: StrictStr
    sha256: StrictStr


class StoredTail(_Stored):
    """The last R rows of the training series: ISO dates and closes, (R,)."""

    dates: list[StrictStr]
    close: list[Number]

    @model_validator(mode="after")
    def _same_length(self) -> StoredTail:
        if len(self.dates) != len(self.close):
            raise ValueError(f"{len(self.dates)} dates but {len(self.close)} closes")
        return self


class StoredIntervals(_Stored):
    """Conformal half-widths (V, K) at V levels for K horizon steps."""

    scale: Literal["absolute", "log"]
    calibration_windows: int = PositiveInt
    levels: list[float] = Field(min_length=1)
    half_widths: list[list[Number]]

    @model_validator(mode="after")
    def _one_row_per_level(self) -> StoredIntervals:
        if len(self.half_widths) != len(self.levels):
            raise ValueError(
                f"half_widths has {len(self.half_widths)} rows for "
                f"{len(self.levels)} levels"
            )
        return self


class StoredEpoch(_Stored):
    """One epoch of the training history; a diverged epoch stores nulls."""

    epoch: int = PositiveInt
    train_loss: Number = None
    val_loss: Number = None
    grad_norm: Number = None
    grad_norm_max: Number = None
    clip_fraction: Number = None
    param_grad_norms: dict[str, Number] | None = None


class StoredScores(_Stored):
    """Errors of one forecaster on the test windows, in price units."""

    rmse: Number = None
    mae: Number = None


class StoredTestMetrics(_Stored):
    """The test scores that a listing summarizes: the model's, each
    baseline's (``naive`` alone in versions from before the other
    baselines) and the skill against naive."""

    model: StoredScores = Field(default_factory=StoredScores)
    naive: StoredScores | None = None
    baselines: dict[str, StoredScores | None] | None = None
    skill_rmse: Number = None
    skill_mae: Number = None


class StoredMetrics(_Stored):
    test: StoredTestMetrics | None = None


class StoredMetadata(_Stored):
    """A version's ``metadata.json`` as the registry writes it."""

    name: StrictStr
    version: int = PositiveInt
    created_at: StrictStr
    spec: StoredSpec
    model: StoredModelConfig
    data: dict[str, Any]
    split: dict[str, Any]
    metrics: StoredMetrics
    scaler: StoredScaler
    weights: StoredWeights
    tail: StoredTail
    intervals: StoredIntervals | None = None
    history: list[StoredEpoch] | None = None

    @model_validator(mode="after")
    def _shapes_agree(self) -> StoredMetadata:
        horizon = self.model.horizon
        if self.spec.horizon != horizon:
            raise ValueError(
                f"spec.horizon is {self.spec.horizon} but model.horizon is {horizon}"
            )
        needed = history_rows(self.spec.lookback, self.spec.target)
        if len(self.tail.close) < needed:
            raise ValueError(
                f"tail has {len(self.tail.close)} rows but lookback "
                f"{self.spec.lookback} needs {needed}"
            )
        rows = self.intervals.half_widths if self.intervals is not None else []
        for index, row in enumerate(rows):
            if len(row) != horizon:
                raise ValueError(
                    f"intervals.half_widths[{index}] has {len(row)} steps but "
                    f"the horizon is {horizon}"
                )
        return self


def metadata_problem(meta: dict[str, Any]) -> str | None:
    """Return the first schema violation of the parsed ``meta`` as
    ``"field: reason"``, or None when it fits ``StoredMetadata``."""
    try:
        StoredMetadata.model_validate(meta)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        reason = first["msg"].removeprefix("Value error, ")
        if first["type"] == "model_type":
            reason = "Input should be a JSON object"
        return f"{where}: {reason}" if where else reason
    return None
