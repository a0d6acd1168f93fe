"""Hyperparameter search with Optuna: TPE sampling, median pruning on the
validation loss, and the best trial registered as a new version.

Each trial trains the base spec with sampled cell, hidden size, layers,
dropout (sampled only for two or more layers), lookback, learning rate,
batch size and clipping threshold. The objective is the lowest validation
MSE of the run in scaled units. The split's target positions do not depend
on the lookback, so every trial is scored on the same validation prices.
Each trial's fit also scores the test part, as every fit does, but only the
validation loss ranks and prunes trials, so the test part does not steer
the search.

A study lives in an SQL database (SQLite by default; any SQLAlchemy URL,
e.g. PostgreSQL, so several workers can share one study). With one worker
and a fresh study the trials, and hence the registered version, are the same
on every run on one machine, because the sampler and every fit are seeded.
This is true while the torch thread count and, for GRU trials, the
``RNN_FORECAST_FUSED_GRU`` setting stay the same, since both change the float
rounding of a fit.

Running a study name again resumes that study and adds trials. A resumed
run seeds its sampler from ``sampler_seed`` and the study's trial count (see
``run_seed``), so it samples new points, and resuming the same study state
with the same seed samples the same ones. When a study is created, it
records its settings: the search space and the base spec's fields that no
trial samples. Resuming it with other settings raises
``InvalidInputError``, because its trials would not be comparable.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from models.data.series import Series
from models.data.sources import load_series
from models.errors import (
    DataError,
    InvalidInputError,
    RnnForecastError,
    TrainingDivergedError,
)
from models.field_types import Boolean, Integer, Number, SpecNumber
from models.input_names import InputNamed, input_name
from models.interrupts import InterruptTracebackFilter
from models.json_values import json_safe
from models.limits import DEFAULT_LIMITS as LIM
from models.names import ModelName
from models.pipeline import build_metadata
from models.registry import Registry
from models.series_checks import check_search_series
from models.spec import CellType, TrainingSpec, check_model_name
from models.sql_urls import check_storage, shown_storage
from models.stale_trials import fail_stale_trials, record_worker
from models.training import EpochRecord, FitResult, StopCheck, fit
from models.trial_heartbeats import (
    MAX_HEARTBEAT_SECONDS,
    default_heartbeat_seconds,
    open_study_storage,
)
from models.tuning_budget import (
    DEFAULT_PRUNING_WARMUP_EPOCHS,
    DEFAULT_STARTUP_TRIALS,
    completed_count,
    finished_count,
    pruning_warmup_error,
    startup_note,
)
from models.unique_items import check_unique_items

# optuna is imported inside the functions that use it: importing it takes
# about a second, which every job worker that registers the tuning kind
# would pay at start-up.
if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)
# optuna 5.1 (study/_optimize.py) logs the exception of a failed trial with
# its traceback, a Ctrl-C or SIGTERM included, above the command's error line
OPTUNA_TRIAL_LOGGER = "optuna.study._optimize"
logging.getLogger(OPTUNA_TRIAL_LOGGER).addFilter(InterruptTracebackFilter())

ProgressReport = Callable[[dict[str, Any]], None]

# Trials listed one by one in the registered version's metadata.
MAX_LISTED_TRIALS = 200

STORAGE_FILE = "optuna.db"

# The base spec's fields that each trial samples and that suggest_spec sets.
SEARCHED_FIELDS = frozenset(
    {
        "cell",
        "hidden_size",
        "num_layers",
        "dropout",
        "lookback",
        "learning_rate",
        "batch_size",
        "clip_norm",
    }
)
# The study's user attribute that records its settings.
SETTINGS_ATTR = "rnn_forecast_settings"
# Differing settings listed in the error of a conflicting study.
MAX_LISTED_DIFFERENCES = 5


# the same bound as TrainingSpec.batch_size, so every trial's spec validates
MAX_BATCH_SIZE = 4096
# the ranges of SearchSpace, as [low, high]
RANGE_FIELDS = (
    "hidden_size",
    "num_layers",
    "dropout",
    "lookback",
    "learning_rate",
    "clip_norm",
)
# ranges sampled on a log scale, which must start above 0
LOG_SCALE_FIELDS = frozenset({"learning_rate", "clip_norm"})
# the bounds of the integer ranges: the training spec's and its limits
INTEGER_BOUNDS = {
    "hidden_size": (1, LIM.max_hidden_size),
    "num_layers": (1, LIM.max_num_layers),
    "lookback": (2, LIM.max_lookback),
}
# the upper bounds of the log-scale ranges: the training spec's
FLOAT_CEILINGS = {"learning_rate": 1.0, "clip_norm": 1e6}


def _json_kind(value: object) -> str:
    """Name the JSON type of ``value`` as a message quotes it, such as
    ``the string '8'`` or ``an object``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class SearchSpace(BaseModel):
    """Ranges searched; integer and float ranges are inclusive [low, high]."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    cells: list[CellType] = Field(default=["rnn", "lstm", "gru"], min_length=1)
    hidden_size: tuple[Integer, Integer] = (8, 128)
    num_layers: tuple[Integer, Integer] = (1, 3)
    dropout: tuple[SpecNumber, SpecNumber] = (0.0, 0.5)
    lookback: tuple[Integer, Integer] = (10, 120)
    learning_rate: tuple[Number, Number] = (1e-4, 1e-2)
    batch_size: list[Integer] = Field(default=[32, 64, 128, 256], min_length=1)
    clip_norm: tuple[Number, Number] = (0.1, 10.0)

    # Each check is a field validator, so that an error names the field,
    # such as space.hidden_size, and not the whole space.
    @field_validator(*RANGE_FIELDS, mode="before")
    @classmethod
    def _check_range_length(cls, value: object, info: ValidationInfo) -> object:
        # pydantic reports each missing item of a short tuple as a missing
        # field, which a client cannot read as "the list is too short", and
        # any other value as "Input should be a valid tuple"
        if isinstance(value, list | tuple) and len(value) == 2:
            return value
        name = str(info.field_name)
        default = list(cls.model_fields[name].default)
        sent = (
            f"a list of {len(value)}"
            if isinstance(value, list | tuple)
            else _json_kind(value)
        )
        raise ValueError(
            f"{name} must be a range [low, high] of two numbers, not {sent}; "
            f"send two numbers such as {default}"
        )

    @field_validator(*RANGE_FIELDS)
    @classmethod
    def _check_range(
        cls, value: tuple[float, float], info: ValidationInfo
    ) -> tuple[float, float]:
        name = str(info.field_name)
        low, high = value
        if low > high:
            raise ValueError(
                f"{name} range ({low}, {high}) has low above high; give the "
                "lower bound first"
            )
        if name in LOG_SCALE_FIELDS and low <= 0:
            raise ValueError(
                f"{name} range ({low}, {high}) must start above 0, because it "
                "is searched on a log scale"
            )
        if name in FLOAT_CEILINGS and high > FLOAT_CEILINGS[name]:
            raise ValueError(
                f"{name} range ({low}, {high}) must end at or below "
                f"{FLOAT_CEILINGS[name]:g}, the training spec's limit; lower "
                "the upper bound"
            )
        if name == "dropout" and not (0 <= low and high < 1):
            raise ValueError(
                f"dropout range {value} must lie in [0, 1); give bounds of at "
                "least 0 and below 1"
            )
        if name in INTEGER_BOUNDS:
            floor, ceiling = INTEGER_BOUNDS[name]
            if low < floor or high > ceiling:
                raise ValueError(
                    f"{name} range ({low}, {high}) must lie within [{floor}, "
                    f"{ceiling}], the training spec's range; give bounds inside it"
                )
        return value

    @field_validator("dropout")
    @classmethod
    def _check_dropout_used(
        cls, value: tuple[float, float], info: ValidationInfo
    ) -> tuple[float, float]:
        # suggest_spec samples dropout only for trials of two or more layers.
        # The default range passes, so that a space copied from a job's
        # params, which list every field, can be sent again. A range of zeros
        # means no dropout, so it passes too.
        layers = info.data.get("num_layers")
        default = cls.model_fields["dropout"].default
        unused = layers is not None and layers[1] < 2 and value[1] > 0
        if unused and tuple(value) != default:
            raise ValueError(
                f"dropout range {value} has no effect with num_layers range "
                f"{layers}, because only trials of 2 or more layers sample "
                "dropout; raise the upper end of num_layers to 2 or more, or "
                "leave dropout out"
            )
        return value

    @field_validator("cells", "batch_size")
    @classmethod
    def _check_unique_choices(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        # a repeated choice adds nothing to the search but stays in the
        # job's params and the study, so a long list of it is rejected
        check_unique_items(value, f"{info.field_name} choices", "choice")
        return value

    @field_validator("batch_size")
    @classmethod
    def _check_batch_sizes(cls, value: list[int]) -> list[int]:
        if any(size < 1 or size > MAX_BATCH_SIZE for size in value):
            raise ValueError(
                f"batch_size choices {value} must lie within "
                f"[1, {MAX_BATCH_SIZE}], the training spec's range; give sizes "
                "inside it"
            )
        return value


class TuningSpec(InputNamed):
    """One study: the base spec, the space, the budget and the storage."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    base: TrainingSpec = Field(
        default_factory=TrainingSpec,
        description="fixed fields (data, target, horizon, epochs, patience, "
        "seed); the searched fields are overwritten per trial",
    )
    space: SearchSpace = Field(default_factory=SearchSpace)
    trials: Integer = Field(default=20, ge=1, le=1000)
    timeout_seconds: Number | None = Field(default=None, gt=0, le=7 * 86400)
    study_name: ModelName | None = Field(
        default=None,
        description="study to create, or to resume when it exists (default: "
        "NAME-tuning on the command line, job-<job id> for a tuning job)",
    )
    storage: str | None = Field(
        default=None,
        max_length=2000,
        description="SQLAlchemy URL of the study database (default: SQLite "
        "file optuna.db in the data folder)",
    )
    heartbeat_seconds: Integer | None = Field(
        default=None,
        ge=0,
        le=MAX_HEARTBEAT_SECONDS,
        description="seconds between the heartbeats of a running trial; a "
        "trial without one for twice as long is failed before the next trial "
        "of the study starts, and 0 turns heartbeats off (default: "
        "RNN_FORECAST_TUNING_HEARTBEAT_SECONDS, else 30)",
    )
    sampler_seed: Integer = Field(default=0, ge=0, le=2**31 - 1)
    startup_trials: Integer = Field(
        default=DEFAULT_STARTUP_TRIALS,
        ge=1,
        le=1000,
        description="random trials before TPE; a value other than the "
        "default may not exceed trials plus the study's completed and pruned "
        "trials",
    )
    pruning_warmup_epochs: Integer = Field(
        default=DEFAULT_PRUNING_WARMUP_EPOCHS,
        ge=0,
        le=1000,
        description="epochs before a trial can be pruned; a value other than "
        "the default must be below base.epochs",
    )
    register_version: Boolean = True
    name: ModelName | None = Field(
        default=None,
        description="model name of the registered version (default: base.name)",
    )

    @field_validator("pruning_warmup_epochs")
    @classmethod
    def _check_pruning_warmup(cls, warmup: int, info: ValidationInfo) -> int:
        # base comes before pruning_warmup_epochs, so info.data has it unless
        # it failed, and the error names pruning_warmup_epochs
        base = info.data.get("base")
        if base is None:
            return warmup
        message = pruning_warmup_error(
            warmup,
            base.epochs,
            input_name(info, "pruning_warmup_epochs"),
            input_name(info, "base.epochs"),
        )
        if message is not None:
            raise ValueError(message)
        return warmup

    def resolved_study_name(self) -> str:
        """Return ``study_name``, or ``<base.name>-tuning`` when it is None."""
        return self.study_name or f"{self.base.name}-tuning"

    def check_name(self) -> None:
        """Raise ``InvalidInputError`` when the best trial would be registered
        under the default name although the data is not the bundled series.
        The message names the fields as the input that built this spec did."""
        if self.register_version and self.name is None:
            check_model_name(
                self.base,
                field="name",
                name_input=self.input_name("name"),
                source_input=self.input_name("base.data.source"),
            )


def default_data_dir() -> Path:
    """Return ``$RNN_FORECAST_DATA_DIR``, default ``./var``."""
    return Path(os.environ.get("RNN_FORECAST_DATA_DIR", "var"))


def default_storage(data_dir: Path | None = None, *, create_folder: bool = True) -> str:
    """Return ``$RNN_FORECAST_TUNING_STORAGE`` when set and not blank, else
    the SQLite file ``optuna.db`` in ``data_dir`` or
    ``$RNN_FORECAST_DATA_DIR`` (default ``./var``), whose folder is created
    unless ``create_folder`` is False, as for a check that only reads."""
    configured = os.environ.get("RNN_FORECAST_TUNING_STORAGE", "").strip()
    if configured:
        return configured
    folder = data_dir or default_data_dir()
    if create_folder:
        folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / STORAGE_FILE).resolve()}"


def suggest_spec(trial: optuna.Trial, tuning: TuningSpec) -> TrainingSpec:
    """Sample one trial's training spec from the search space."""
    space = tuning.space
    layers = trial.suggest_int("num_layers", *space.num_layers)
    dropout = 0.0
    if layers >= 2:
        dropout = trial.suggest_float("dropout", *space.dropout)
    sampled = {
        "cell": trial.suggest_categorical("cell", list(space.cells)),
        "hidden_size": trial.suggest_int("hidden_size", *space.hidden_size, log=True),
        "num_layers": layers,
        "dropout": dropout,
        "lookback": trial.suggest_int("lookback", *space.lookback),
        "learning_rate": trial.suggest_float(
            "learning_rate", *space.learning_rate, log=True
        ),
        "batch_size": trial.suggest_categorical("batch_size", list(space.batch_size)),
        "clip_norm": trial.suggest_float("clip_norm", *space.clip_norm, log=True),
    }
    return spec_with(tuning, sampled)


def spec_with(tuning: TuningSpec, sampled: dict[str, Any]) -> TrainingSpec:
    """Build the base spec with ``sampled`` fields and the registered name.

    A one-layer spec gets dropout 0 because dropout acts between layers.
    """
    fields = tuning.base.model_dump()
    fields.update(sampled)
    fields["name"] = tuning.name or tuning.base.name
    if fields["num_layers"] < 2:
        fields["dropout"] = 0.0
    return TrainingSpec.model_validate(fields)


class Objective:
    """The study's objective; keeps the best fit of this process for reuse."""

    def __init__(
        self,
        tuning: TuningSpec,
        series: Series,
        report: ProgressReport | None,
        should_stop: StopCheck | None,
    ) -> None:
        self.tuning = tuning
        self.series = series
        self.report = report
        self.should_stop = should_stop
        self.best: tuple[float, int, FitResult] | None = None
        self.done = 0

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        record_worker(trial)
        spec = suggest_spec(trial, self.tuning)

        def on_epoch(record: EpochRecord, total: int) -> None:
            # steps count finished epochs from 0, so the pruner's warm-up is
            # the number of epochs that every trial completes
            trial.report(record.val_loss, record.epoch - 1)
            if trial.should_prune():
                raise optuna.TrialPruned(
                    f"validation loss {record.val_loss:.5g} at epoch {record.epoch}"
                )

        try:
            result = fit(
                spec, self.series, on_epoch=on_epoch, should_stop=self.should_stop
            )
        finally:
            self.done += 1
            self._report(trial.number)

        value = min(record.val_loss for record in result.history)
        trial.set_user_attr("epochs_run", len(result.history))
        trial.set_user_attr("best_epoch", result.best_epoch)
        if not math.isfinite(value):
            return math.inf
        if self.best is None or value < self.best[0]:
            self.best = (value, trial.number, result)
        return value

    def _report(self, number: int) -> None:
        if self.report is not None:
            self.report(
                {
                    "stage": "tuning",
                    "trial": number,
                    "trials_done": self.done,
                    "trials": self.tuning.trials,
                }
            )


def run_tuning(
    params: TuningSpec,
    report: ProgressReport | None = None,
    should_stop: StopCheck | None = None,
    *,
    registry: Registry | None = None,
    series: Series | None = None,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    upload_dir: Path | None = None,
    root_path: str = "",
    before_write: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run the study, register its best trial and return the study summary.

    The summary's ``"notes"`` lists the sentences on settings that cannot
    act in this run (``start_notes``), and it gains ``"version"`` when a
    version was written.
    ``before_write`` runs just before that write, and nothing is written
    when it raises. Raises
    ``RnnForecastError`` when no trial completed, ``InvalidInputError``
    before loading when a version would be written without a name for other
    data than the bundled series, and the errors of ``check_search_series``
    before the study is created or loaded. ``root_path`` goes before the
    API paths in the errors of an upload (``load_series``).
    """
    started = time.perf_counter()
    params.check_name()
    if params.register_version and registry is not None:
        registry.check_writable(params.name or params.base.name)
    storage = params.storage or default_storage(data_dir)
    check_storage(storage)
    heartbeat_seconds = params.heartbeat_seconds
    if heartbeat_seconds is None:
        heartbeat_seconds = default_heartbeat_seconds()
    if series is None:
        series = load_series(
            params.base.data,
            cache_dir=cache_dir,
            upload_dir=upload_dir,
            root_path=root_path,
        )
    check_search_series(params, series)

    study = create_study(params, storage, heartbeat_seconds)
    notes = start_notes(study, params)
    objective = Objective(params, series, report, should_stop)
    study.optimize(
        objective,
        n_trials=params.trials,
        timeout=params.timeout_seconds,
        catch=(DataError, TrainingDivergedError),
    )
    summary = summarize_study(study, params, storage, data_dir or default_data_dir())
    summary["notes"] = notes
    summary["seconds"] = round(time.perf_counter() - started, 3)

    if params.register_version:
        if registry is None:
            raise ValueError("run_tuning needs a registry when register_version is set")
        summary["version"] = register_best(
            study, params, objective, registry, summary, before_write
        )
    return json_safe(summary)


def create_study(
    params: TuningSpec, storage: str, heartbeat_seconds: int
) -> optuna.Study:
    """Create the study, or load it when the name exists in ``storage``.

    Its trials record a heartbeat every ``heartbeat_seconds`` (0 turns that
    off), and each trial that it starts first fails the running trials whose
    heartbeat stopped (``models.trial_heartbeats``). Resuming a study also
    fails at once its trials that a process on this host left running when
    it exited. The sampler's seed comes from ``run_seed``, so a resumed study
    samples new points instead of replaying its first ones.
    """
    import optuna

    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=params.startup_trials,
        n_warmup_steps=params.pruning_warmup_epochs,
    )
    study = optuna.create_study(
        storage=open_study_storage(storage, heartbeat_seconds),
        pruner=pruner,
        study_name=params.resolved_study_name(),
        direction="minimize",
        load_if_exists=True,
    )
    existing = len(study.get_trials(deepcopy=False))
    study.sampler = optuna.samplers.TPESampler(
        seed=run_seed(params.sampler_seed, existing),
        n_startup_trials=params.startup_trials,
    )
    record_settings(study, params)
    fail_stale_trials(study)
    return study


def start_notes(study: optuna.Study, params: TuningSpec) -> list[str]:
    """Return the notes on the run that starts on ``study``, such as a
    ``startup_trials`` that its trials leave TPE no trial to sample
    (``startup_note``), and log each as a warning."""
    note = startup_note(
        params, finished_count(study), completed_count(study), study.study_name
    )
    notes = [] if note is None else [note]
    for text in notes:
        logger.warning("tuning study %s: %s", study.study_name, text)
    return notes


def run_seed(sampler_seed: int, existing_trials: int) -> int:
    """Return the sampler seed of a run that starts on a study with
    ``existing_trials`` trials: ``sampler_seed`` for a new study, else a seed
    mixed from both numbers.

    The same study state and seed give the same seed, so a resumed run stays
    reproducible. A TPE sampler re-seeded with ``sampler_seed`` would instead
    draw the same start-up points as the study's first trials.
    """
    if existing_trials == 0:
        return sampler_seed
    state = np.random.SeedSequence((sampler_seed, existing_trials)).generate_state(1)
    return int(state[0])


def study_settings(params: TuningSpec) -> dict[str, Any]:
    """Return the settings that every trial of a study shares: the search
    space and the base spec without its name and its searched fields."""
    base = params.base.model_dump(mode="json", exclude={"name", *SEARCHED_FIELDS})
    return {"space": params.space.model_dump(mode="json"), "base": base}


def record_settings(study: optuna.Study, params: TuningSpec) -> None:
    """Record the settings of ``params`` in a study that has none, or raise
    ``InvalidInputError`` when the study's recorded settings differ."""
    stored = study.user_attrs.get(SETTINGS_ATTR)
    if stored is not None:
        check_settings(study.study_name, stored, params)
        return

    trials = len(study.get_trials(deepcopy=False))
    if trials:
        # NOTE: a study created before settings were recorded cannot be
        # checked, so its trials are taken to share this request's settings.
        logger.warning(
            "study %s has %d trials but no recorded settings; recording this "
            "run's settings",
            study.study_name,
            trials,
        )
    study.set_user_attr(SETTINGS_ATTR, study_settings(params))


def check_settings(name: str, stored: dict[str, Any], params: TuningSpec) -> None:
    """Raise ``InvalidInputError`` when ``params`` differs from the settings
    ``stored`` in the study ``name``."""
    differences = settings_differences(stored, study_settings(params))
    if not differences:
        return
    listed = listed_differences(differences)
    raise InvalidInputError(
        f"study {name} exists with other settings than this request ({listed}). "
        "A study keeps its search space and base spec, so that its trials "
        "stay comparable. Send the study's settings to resume it, or use "
        "another study name: leave study_name out of a tuning job, or give "
        "another --study-name on the command line",
        field="study_name",
    )


def settings_differences(
    stored: dict[str, Any], requested: dict[str, Any]
) -> list[str]:
    """List each field whose requested value differs from the stored one,
    as ``space.cells ["gru"] instead of ["rnn"]``."""
    differences = []
    for part in ("space", "base"):
        old, new = stored.get(part, {}), requested[part]
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                differences.append(
                    f"{part}.{key} {json.dumps(new.get(key))} instead of "
                    f"{json.dumps(old.get(key))}"
                )
    return differences


def listed_differences(differences: list[str]) -> str:
    """Join the first ``MAX_LISTED_DIFFERENCES`` of ``differences`` with
    semicolons, followed by the count of the others."""
    listed = "; ".join(differences[:MAX_LISTED_DIFFERENCES])
    if len(differences) > MAX_LISTED_DIFFERENCES:
        listed += f"; and {len(differences) - MAX_LISTED_DIFFERENCES} more"
    return listed


def check_existing_study(params: TuningSpec, storage: str) -> None:
    """Raise ``InvalidInputError`` when ``params.study_name`` names a study
    in ``storage`` whose recorded settings differ from ``params``.

    A study that does not exist, or that records no settings, passes.
    Storage errors, such as an unreachable database, propagate.
    """
    import optuna

    if params.study_name is None:
        return
    try:
        study = optuna.load_study(study_name=params.study_name, storage=storage)
    except KeyError:
        return
    stored = study.user_attrs.get(SETTINGS_ATTR)
    if stored is not None:
        check_settings(params.study_name, stored, params)


def summarize_study(
    study: optuna.Study, params: TuningSpec, storage: str, data_dir: Path
) -> dict[str, Any]:
    """Summarize the study for the registered version's metadata. The
    storage URL is shown by ``shown_storage``: no password, and a SQLite
    file relative to ``data_dir``."""
    trials = study.get_trials(deepcopy=False)
    from optuna.trial import TrialState

    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    summary: dict[str, Any] = {
        "study_name": study.study_name,
        "storage": shown_storage(storage, data_dir),
        "direction": "minimize",
        "objective": "lowest validation MSE of the run, scaled units",
        "sampler": {"name": "TPESampler", "seed": params.sampler_seed},
        "pruner": {
            "name": "MedianPruner",
            "startup_trials": params.startup_trials,
            "warmup_epochs": params.pruning_warmup_epochs,
        },
        "space": params.space.model_dump(mode="json"),
        "counts": {
            "total": len(trials),
            "complete": len(complete),
            "pruned": sum(t.state == TrialState.PRUNED for t in trials),
            "failed": sum(t.state == TrialState.FAIL for t in trials),
        },
        "trials": [
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "value": t.value,
                "params": t.params,
            }
            for t in trials[:MAX_LISTED_TRIALS]
        ],
    }
    if complete:
        best = study.best_trial
        summary["best"] = {
            "number": best.number,
            "value": best.value,
            "params": best.params,
        }
    return summary


def register_best(
    study: optuna.Study,
    params: TuningSpec,
    objective: Objective,
    registry: Registry,
    summary: dict[str, Any],
    before_write: Callable[[], None] | None = None,
) -> int:
    """Write the best trial as a new version with the summary in its metadata.
    ``before_write`` runs just before the write, which it can stop by
    raising.

    The fit of this process is reused when it made the best trial. A best
    trial from another worker is trained again from its parameters, which
    gives the same weights on the same machine when both processes use the
    same torch thread count and ``RNN_FORECAST_FUSED_GRU`` setting.
    """
    if "best" not in summary:
        raise RnnForecastError(
            f"study {study.study_name} has no completed trial, so nothing can "
            f"be registered; raise {params.input_name('trials')} or "
            f"{params.input_name('timeout_seconds')}, or widen the pruning "
            f"warm-up with {params.input_name('pruning_warmup_epochs')}",
            field="trials",
        )
    best = study.best_trial
    spec = spec_with(params, best.params)
    if objective.best is not None and objective.best[1] == best.number:
        result = objective.best[2]
    else:
        result = fit(spec, objective.series, should_stop=objective.should_stop)

    meta = build_metadata(spec, objective.series, result)
    meta["tuning"] = json_safe(summary)
    if before_write is not None:
        before_write()
    version = registry.write(spec.name, result.model.state_dict(), meta)
    logger.info(
        "registered trial %d of study %s as %s version %d",
        best.number,
        study.study_name,
        spec.name,
        version,
    )
    return version


def delete_study(study_name: str, storage: str) -> None:
    """Delete ``study_name`` from ``storage``; used to clean up."""
    import optuna

    optuna.delete_study(study_name=study_name, storage=storage)
