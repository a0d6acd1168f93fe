"""The training spec: one pydantic model shared by the command line, the HTTP
API and the job runners."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic_core import PydanticCustomError

from models.calendar import CALENDAR_END, CALENDAR_START, first_session_from
from models.data.scaling import ScalerKind
from models.date_fields import IsoDate
from models.errors import InvalidInputError
from models.field_types import (
    INTEGER_ONLY,
    Integer,
    Number,
    SpecNumber,
    explain_minimum,
    explain_null,
    explain_pattern,
)
from models.input_names import input_name, setting
from models.limits import DEFAULT_LIMITS as LIM
from models.names import ModelName
from models.quoted_ids import quoted
from models.source_errors import explain_source
from models.tickers import Ticker

# the smallest lookback and horizon of a training spec
MIN_LOOKBACK = 2
MIN_HORIZON = 1

CellType = Literal["rnn", "lstm", "gru"]
Target = Literal["log_return", "price"]
PriceColumn = Literal["close", "adj_close", "open", "high", "low"]
GeneratorName = Literal[
    "sine", "noisy_sine", "trend_seasonal", "ar1", "random_walk", "mackey_glass"
]

# The model name of a spec without one. Only the bundled NFLX data may use it.
DEFAULT_NAME = "nflx"
# the fix appended to the error of a value below the minimum, by field
NULL_TURNS_OFF = {
    "clip_norm": "send null to turn gradient clipping off",
    "patience": "send null to turn early stopping off",
}

# the fields of a training spec that have a default and do not take null
NULL_DEFAULT_FIELDS = (
    "name",
    "cell",
    "hidden_size",
    "num_layers",
    "dropout",
    "lookback",
    "horizon",
    "target",
    "scaler",
    "epochs",
    "learning_rate",
    "batch_size",
    "val_fraction",
    "test_fraction",
    "seed",
    "data",
)


class _Strict(BaseModel):
    # Every float field rejects NaN and Infinity with the error type
    # finite_number. Without it, NaN fails a bound such as le=1 and gets that
    # bound's message.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class BundledData(_Strict):
    """The NFLX daily history shipped inside the package (offline default)."""

    source: Literal["bundled"] = "bundled"
    column: PriceColumn = "close"


def check_value_column(value: object) -> object:
    """Raise a ``value_column`` error for the column ``value``, which a
    ``date,value`` CSV has but which training reads as ``close``."""
    if value == "value":
        raise PydanticCustomError(
            "value_column",
            "column 'value' names the values of a date,value CSV, which training "
            "reads as the column 'close'; send 'close' or leave column out",
        )
    return value


class CsvData(_Strict):
    """A Yahoo-format CSV (Date,Open,High,Low,Close,Adj Close,Volume) or a
    two-column ``date,value`` CSV on the local disk."""

    source: Literal["csv"] = "csv"
    path: str = Field(min_length=1, max_length=4096)
    column: Annotated[PriceColumn, BeforeValidator(check_value_column)] = "close"


class YFinanceData(_Strict):
    """Daily history downloaded with ``yfinance.download`` and cached on disk."""

    source: Literal["yfinance"] = "yfinance"
    ticker: Ticker
    start: IsoDate | None = None
    # validate_default runs _check_end_leaves_sessions on a missing end too
    end: IsoDate | None = Field(default=None, validate_default=True)
    column: PriceColumn = "close"

    @field_validator("start")
    @classmethod
    def _check_start_in_calendar(
        cls, start: dt.date | None, info: ValidationInfo
    ) -> dt.date | None:
        # every bar from such a start is after the calendar, and the bars
        # of a download must be dated on its sessions
        last = dt.date.fromisoformat(CALENDAR_END)
        if start is not None and start > last:
            start_name = input_name(info, "data.start")
            raise ValueError(
                f"{start_name} {start} is after {last}, the last session of "
                f"the NYSE calendar, so no bar of the download can be dated on "
                f"a session; set {start_name} to {last} or earlier"
            )
        return start

    # a validator of end, whose info.data contains start, so that the error
    # names end. The command line names these fields by its options.
    @field_validator("end")
    @classmethod
    def _check_end_after_start(
        cls, end: dt.date | None, info: ValidationInfo
    ) -> dt.date | None:
        start = info.data.get("start")
        if start is not None and end is not None and start >= end:
            start_name = input_name(info, "data.start")
            end_name = input_name(info, "data.end")
            raise ValueError(
                f"{end_name} {end} must be after {start_name} {start}; set "
                f"{end_name} to a later date than {start_name}"
            )
        return end

    @field_validator("end")
    @classmethod
    def _check_end_leaves_sessions(
        cls, end: dt.date | None, info: ValidationInfo
    ) -> dt.date | None:
        # A range without a session downloads no usable bar, and a job
        # would fail only when it runs. Start is missing from info.data
        # when its own check failed.
        if end is None or "start" not in info.data:
            return end
        start = info.data["start"]
        first = first_session_from(start or dt.date.fromisoformat(CALENDAR_START))
        if first is None or first < end:
            return end
        end_name = input_name(info, "data.end")
        start_name = input_name(info, "data.start")
        since = (
            f"on or after {start_name} {start}"
            if start is not None
            else f"of the NYSE calendar (which starts the download when "
            f"{start_name} is left out)"
        )
        raise ValueError(
            f"{end_name} {end} leaves no NYSE session to download, because "
            f"the bars end before {end_name} and the first session {since} is "
            f"{first}; set {end_name} after {first}"
        )


class SyntheticData(_Strict):
    """A seeded synthetic series on the NYSE trading calendar."""

    source: Literal["synthetic"] = "synthetic"
    generator: GeneratorName = "sine"
    # the calendar of synthetic dates has 50,469 NYSE sessions (2000 to 2200)
    length: Integer = Field(default=2000, ge=50, le=50_000)
    seed: Integer = Field(default=0, ge=0, le=2**31 - 1)
    noise: SpecNumber = Field(default=0.1, ge=0.0, le=10.0)
    period: SpecNumber = Field(default=50.0, gt=1.0, le=10_000.0)
    phi: SpecNumber = Field(default=0.8, gt=-1.0, lt=1.0)
    level: SpecNumber = Field(default=0.0, ge=-1e6, le=1e6)


def invalid_series_id_message(value: object, root_path: str = "") -> str:
    """Return the message for a ``series_id`` that is no upload id.

    The API paths in it start with ``root_path``, the service's root path
    (``RNN_FORECAST_ROOT_PATH``). The schema's validator leaves it empty,
    so the service's error handler writes the message again with its own.
    """
    series = f"{root_path}/v1/series"
    return (
        f"{quoted(value)} is not a series id; send the id of 32 lowercase hex "
        f"characters that POST {series} returned, as GET {series} lists them"
    )


# the id of an upload; the JSON Schema shows the pattern
SeriesId = Annotated[
    str,
    Field(pattern=r"^[a-f0-9]{32}$"),
    WrapValidator(explain_pattern(invalid_series_id_message)),
]


class UploadedData(_Strict):
    """A series uploaded through ``POST /v1/series``, referred to by id."""

    source: Literal["upload"] = "upload"
    series_id: SeriesId
    column: Annotated[PriceColumn, BeforeValidator(check_value_column)] = "close"


DATA_SOURCES: tuple[str, ...] = ("bundled", "csv", "yfinance", "synthetic", "upload")
# sources that read a file by its path on the machine that trains
LOCAL_FILE_SOURCES: tuple[str, ...] = ("csv",)


def _explain_source(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    return explain_source(value, handler, DATA_SOURCES)


DataSpec = Annotated[
    BundledData | CsvData | YFinanceData | SyntheticData | UploadedData,
    Field(discriminator="source"),
    WrapValidator(_explain_source),
]


class TrainingSpec(_Strict):
    """Everything that defines one training run; stored whole in the metadata.

    Training twice from the same spec and the same data gives the same weights
    on the same machine with the same number of torch threads and, for a GRU,
    the same RNN_FORECAST_FUSED_GRU setting.
    """

    name: ModelName = Field(
        default=DEFAULT_NAME,
        description="Model name of the version that training writes. It "
        f"defaults to {DEFAULT_NAME} for the bundled NFLX data and is required "
        "for any other data source when a version is written",
    )
    cell: CellType = "lstm"
    hidden_size: Integer = Field(default=64, ge=1, le=LIM.max_hidden_size)
    num_layers: Integer = Field(default=2, ge=1, le=LIM.max_num_layers)
    dropout: SpecNumber = Field(default=0.0, ge=0.0, lt=1.0)
    lookback: Integer = Field(default=60, ge=MIN_LOOKBACK, le=LIM.max_lookback)
    horizon: Integer = Field(default=10, ge=MIN_HORIZON, le=LIM.max_horizon)
    target: Target = "log_return"
    scaler: ScalerKind = "standard"
    epochs: Integer = Field(default=30, ge=1, le=LIM.max_epochs)
    learning_rate: SpecNumber = Field(default=1e-3, gt=0.0, le=1.0)
    batch_size: Integer = Field(default=64, ge=1, le=4096)
    # a plain Number, because -0.0 fails gt=0 anyway, and the AfterValidator
    # of SpecNumber would move the bounds of this nullable field out of the
    # JSON schema
    clip_norm: Number | None = Field(
        default=1.0,
        gt=0.0,
        le=1e6,
        description="Maximum global L2 norm of a batch's parameter gradients; "
        "larger gradients are scaled down to it. null turns gradient "
        "clipping off",
    )
    patience: Annotated[int, Field(ge=1, le=1000), INTEGER_ONLY] | None = Field(
        default=5,
        description="Epochs without a lower validation loss before training "
        "stops; null turns early stopping off",
    )
    val_fraction: SpecNumber = Field(default=0.15, gt=0.0, lt=0.5)
    test_fraction: SpecNumber = Field(default=0.15, gt=0.0, lt=0.5)
    seed: Integer = Field(default=0, ge=0, le=2**31 - 1)
    data: DataSpec = Field(default_factory=BundledData)

    @field_validator("clip_norm", "patience", mode="wrap")
    @classmethod
    def _explain_null(
        cls, value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> object:
        return explain_minimum(value, handler, NULL_TURNS_OFF[info.field_name])

    # every field that has a default and does not take null
    @field_validator(*NULL_DEFAULT_FIELDS, mode="wrap")
    @classmethod
    def _explain_null_default(
        cls, value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> object:
        return explain_null(value, handler, str(info.field_name), has_default=True)

    @field_validator("dropout")
    @classmethod
    def _check_dropout(cls, dropout: float, info: ValidationInfo) -> float:
        # torch applies dropout only between stacked layers, so with one layer
        # it would be silently ignored. num_layers comes before dropout, so
        # info.data has it and the error names dropout. The command line
        # names the fields by its options.
        dropout_name = input_name(info, "dropout")
        layers_name = input_name(info, "num_layers")
        if dropout > 0 and info.data.get("num_layers") == 1:
            raise ValueError(
                f"{setting(dropout_name, dropout)} has no effect with "
                f"{setting(layers_name, 1)} because dropout is applied between "
                f"recurrent layers; set {setting(layers_name, 2)} or more, or "
                f"{setting(dropout_name, 0)}"
            )
        return dropout


def check_model_name(
    spec: TrainingSpec,
    *,
    field: str = "name",
    name_input: str = "name",
    source_input: str = "data.source",
) -> None:
    """Raise ``InvalidInputError`` when ``spec`` would write a version under
    the default name although its data is not the bundled NFLX series.

    A name counts as given when the input that built the spec contained it,
    so an explicit ``"name": "nflx"`` is accepted. ``field`` is the input that
    the error names. ``name_input`` and ``source_input`` name the model name
    and the data source as that input does, such as ``name`` and
    ``data.source`` in JSON or ``--name`` and ``--data`` on the command line.
    """
    if "name" in spec.model_fields_set or isinstance(spec.data, BundledData):
        return
    source = spec.data.source
    trained_on = f"{source_input} {source!r}"
    if source_input.startswith("--"):
        trained_on = f"{source_input} {source}"
    fix = f"set {name_input}"
    if name_input.startswith("--"):
        fix = f"add {name_input} NAME"
    raise InvalidInputError(
        f"{name_input} is missing: the default name {DEFAULT_NAME} is only for "
        f"the bundled NFLX data, so a model trained on {trained_on} needs a "
        f"name of its own; {fix}",
        field=field,
    )
