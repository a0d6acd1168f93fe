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

import datetime as dt
import math
import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    model_validator,
)

from models.data.scaling import ScalerKind
from models.data.value_range import MAX_ABS_VALUE
from models.data.windows import history_rows
from models.intervals import LEVEL_GRID
from models.limits import DEFAULT_LIMITS as LIM
from models.quoted_ids import quoted
from models.spec import CellType, Target

# a JSON number, or null where a non-finite float was written
Number = float | None
PositiveInt = Field(strict=True, ge=1)
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
# the file that ``Registry.load`` reads the weights from
WEIGHTS_FILE = "weights.safetensors"
# the layout of metadata.json and the weights that this code writes and reads
FORMAT_VERSION = 1


class _Stored(BaseModel):
    """A JSON object that may contain more keys than the registry reads."""

    model_config = ConfigDict(extra="allow", strict=True)


class StoredSpec(_Stored):
    """The training spec fields that a forecast reads."""

    target: Target
    cell: CellType | None = None
    lookback: int = Field(strict=True, ge=2, le=LIM.max_lookback)
    horizon: int = Field(strict=True, ge=1, le=LIM.max_horizon)


class StoredModelConfig(_Stored):
    """The arguments of ``Forecaster.from_config``, within the bounds of
    ``TrainingSpec``, so that a forecast never builds a larger network than
    training can. Training feeds the network one feature (``input_size``).

    NOTE: the weights are checked against this shape only when a version is
    loaded, so the listing and health do not find weights of another shape.
    """

    cell: CellType
    input_size: int = Field(strict=True, ge=1, le=1)
    hidden_size: int = Field(strict=True, ge=1, le=LIM.max_hidden_size)
    num_layers: int = Field(strict=True, ge=1, le=LIM.max_num_layers)
    horizon: int = Field(strict=True, ge=1, le=LIM.max_horizon)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class StoredScaler(_Stored):
    """The arguments of ``Scaler.from_dict``. A null or non-finite shift or
    scale is left to ``check_scaler``, which reports a diverged run."""

    kind: ScalerKind
    shift: Number
    scale: Number
    min: Number
    max: Number

    @model_validator(mode="after")
    def _positive_scale(self) -> StoredScaler:
        scale = self.scale
        if scale is not None and math.isfinite(scale) and scale <= 0:
            raise ValueError(f"scale is {scale} but must be above 0")
        return self


class StoredWeights(_Stored):
    """The weights file, which is always ``WEIGHTS_FILE`` in the version
    folder, and its sha256."""

    file: Literal["weights.safetensors"]
    sha256: StrictStr


class StoredTail(_Stored):
    """The last R rows of the training series: ISO dates and closes, (R,)."""

    dates: list[StrictStr]
    close: list[Number]

    @model_validator(mode="after")
    def _check_rows(self) -> StoredTail:
        if len(self.dates) != len(self.close):
            raise ValueError(f"{len(self.dates)} dates but {len(self.close)} closes")
        _check_dates(self.dates)
        for index, close in enumerate(self.close):
            if close is not None and not abs(close) <= MAX_ABS_VALUE:
                raise ValueError(
                    f"close[{index}] is {close} but must be between "
                    f"-{MAX_ABS_VALUE:g} and {MAX_ABS_VALUE:g}"
                )
        return self


def _check_dates(dates: list[str]) -> None:
    """Raise ``ValueError`` unless ``dates`` are strictly increasing
    YYYY-MM-DD dates."""
    previous: dt.date | None = None
    for index, text in enumerate(dates):
        try:
            if not DATE_RE.fullmatch(text):
                raise ValueError(text)
            date = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"dates[{index}] is {quoted(text)}, not a YYYY-MM-DD date"
            ) from None
        if previous is not None and date <= previous:
            raise ValueError(
                f"dates[{index}] is {text}, not after dates[{index - 1}]; "
                "the dates must increase"
            )
        previous = date


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
        _check_levels(self.levels)
        for row_index, row in enumerate(self.half_widths):
            for step, width in enumerate(row):
                if width is not None and not (math.isfinite(width) and width >= 0):
                    raise ValueError(
                        f"half_widths[{row_index}][{step}] is {width} but must "
                        "be a finite number >= 0"
                    )
        return self


def _check_levels(levels: list[float]) -> None:
    """Raise ``ValueError`` unless ``levels`` increase and each is one of
    the calibrated levels 0.01, 0.02, ..., 0.99."""
    for index, level in enumerate(levels):
        if not any(abs(level - grid) < 1e-9 for grid in LEVEL_GRID):
            raise ValueError(
                f"levels[{index}] is {level}, not one of 0.01, 0.02, ..., 0.99"
            )
        if index > 0 and level <= levels[index - 1]:
            raise ValueError(
                f"levels[{index}] is {level}, not above levels[{index - 1}]; "
                "the levels must increase"
            )


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


class StoredIntervalScore(_Stored):
    """Coverage and mean width of one interval level on the test windows.

    A level that the validation windows were too few to calibrate has
    ``served`` false and null figures. Versions written before ``served``
    existed list only calibrated levels, without the field.
    """

    coverage: Number = None
    mean_width: Number = None
    served: bool = True

    @model_validator(mode="after")
    def _unserved_has_no_figures(self) -> StoredIntervalScore:
        if not self.served and (self.coverage, self.mean_width) != (None, None):
            raise ValueError(
                "a level with served false has no coverage or mean_width, "
                f"but they are {self.coverage} and {self.mean_width}"
            )
        return self


class StoredTestMetrics(_Stored):
    """The test scores that a listing summarizes: the model's, each
    baseline's (``naive`` alone in versions from before the other
    baselines) and the skill against naive, and the interval coverage by
    level as text, such as ``"0.9"``."""

    model: StoredScores = Field(default_factory=StoredScores)
    naive: StoredScores | None = None
    baselines: dict[str, StoredScores | None] | None = None
    skill_rmse: Number = None
    skill_mae: Number = None
    intervals: dict[str, StoredIntervalScore] | None = None


class StoredMetrics(_Stored):
    test: StoredTestMetrics | None = None


class StoredMetadata(_Stored):
    """A version's ``metadata.json`` as the registry writes it."""

    name: StrictStr
    version: int = PositiveInt
    format: int = Field(default=FORMAT_VERSION, strict=True, ge=1)
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
    # the job that wrote the version; absent for the command line's versions
    job_id: StrictStr | None = None

    @model_validator(mode="after")
    def _shapes_agree(self) -> StoredMetadata:
        if self.format > FORMAT_VERSION:
            raise ValueError(
                f"format {self.format} is newer than format {FORMAT_VERSION}, the "
                "newest that this rnn-forecast reads; read it with the "
                "rnn-forecast release that wrote it"
            )
        horizon = self.model.horizon
        if self.spec.horizon != horizon:
            raise ValueError(
                f"spec.horizon is {self.spec.horizon} but model.horizon is {horizon}"
            )
        if self.spec.cell is not None and self.spec.cell != self.model.cell:
            raise ValueError(
                f"spec.cell is {self.spec.cell!r} but model.cell is {self.model.cell!r}"
            )
        if self.spec.target == "log_return":
            _check_positive(self.tail.close)
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


def _check_positive(closes: list[float | None]) -> None:
    """Raise ``ValueError`` for a close <= 0, which has no log return."""
    for index, close in enumerate(closes):
        if close is not None and close <= 0:
            raise ValueError(
                f"tail.close[{index}] is {close} but target log_return needs "
                "closes above 0"
            )


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
