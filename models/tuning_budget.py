"""Checks that a study's start-up and pruning warm-up settings can act.

A tuning run passes ``startup_trials`` to optuna's ``TPESampler`` and
``MedianPruner`` as ``n_startup_trials``, and ``pruning_warmup_epochs`` to the
pruner as ``n_warmup_steps``. In optuna 5.1 the sampler samples at random
while the study has fewer than ``n_startup_trials`` completed or pruned
trials. The pruner prunes nothing while the study has fewer than
``n_startup_trials`` completed trials, and it prunes a trial only at a step
of at least ``n_warmup_steps``. A trial reports epoch e as step e - 1.

Each default passes even where it cannot act, such as the default 5 start-up
trials in a study of 3 trials. A request that leaves these settings out, or
that sends back the params of an earlier job, is thus not rejected.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Engine, make_url

from models.errors import InvalidInputError
from models.input_names import setting
from models.sql_urls import sqlite_file

if TYPE_CHECKING:
    import optuna

    from models.tuning import TuningSpec

DEFAULT_STARTUP_TRIALS = 5
DEFAULT_PRUNING_WARMUP_EPOCHS = 2
# the table in which optuna's RDB storage keeps its studies
OPTUNA_STUDIES_TABLE = "studies"


def pruning_warmup_error(
    warmup: int, epochs: int, warmup_name: str, epochs_name: str
) -> str | None:
    """Return the message for a pruning warm-up of ``warmup`` epochs that
    trials of at most ``epochs`` epochs never end, or None when pruning can
    act or ``warmup`` is the default. The names are those of the input."""
    if warmup < epochs or warmup == DEFAULT_PRUNING_WARMUP_EPOCHS:
        return None
    lower_warmup = setting(warmup_name, epochs - 1)
    if epochs > 1:
        lower_warmup += " or less"
    return (
        f"{setting(warmup_name, warmup)} leaves no epoch at which a trial can "
        f"be pruned, because the median pruner acts from epoch {warmup + 1} on "
        f"and each trial trains at most {setting(epochs_name, epochs)}; set "
        f"{lower_warmup}, or raise {epochs_name} to {warmup + 1} or more"
    )


def check_startup_trials(
    params: TuningSpec, study_name: str | None, storage: str | None
) -> None:
    """Raise ``InvalidInputError`` on ``startup_trials`` when it exceeds
    ``trials`` plus the completed and pruned trials that the study
    ``study_name`` in ``storage`` has, because then no trial of the run is
    sampled by TPE or pruned.

    ``study_name`` None stands for a study that the run creates, and
    ``storage`` None for ``default_storage()``. The storage is read only
    when ``startup_trials`` exceeds ``trials``, and its errors propagate.
    The check creates no folder, file or table (see ``finished_trials``), so
    a rejected run leaves nothing behind.

    NOTE: trials that other processes or queued jobs add to the same study
    while this run goes on are not counted, so a run that shares a new
    study with them is rejected although their trials would end its start-up.
    """
    startup, trials = params.startup_trials, params.trials
    if startup <= trials or startup == DEFAULT_STARTUP_TRIALS:
        return
    finished = 0
    if study_name is not None:
        # models.tuning imports this module, so its import waits until here
        from models.tuning import default_storage

        storage = storage or default_storage(create_folder=False)
        finished = finished_trials(study_name, storage)
    if startup <= trials + finished:
        return

    startup_name = params.input_name("startup_trials")
    trials_name = params.input_name("trials")
    above = setting(trials_name, trials)
    if finished:
        above += f" plus the {finished} finished trials of study {study_name}"
    raise InvalidInputError(
        f"{setting(startup_name, startup)} is above {above}, so every trial "
        "of this run would be sampled at random and none could be pruned. The "
        f"TPE sampler samples at random until the study has {startup_name} "
        "completed or pruned trials, and the median pruner prunes nothing "
        f"until it has {startup_name} completed trials. Set "
        f"{setting(startup_name, trials + finished)} or less (that value runs "
        f"a random search), or raise {trials_name} to "
        f"{startup - finished + 1} or more so that TPE samples the last trials",
        field="startup_trials",
    )


def finished_trials(study_name: str, storage: str) -> int:
    """Return the number of completed and pruned trials of the study
    ``study_name`` in ``storage``, 0 when it does not exist.

    Optuna creates its tables, and SQLite the database file, when a storage
    opens, so a storage without optuna's tables is not opened by optuna
    (``has_study_tables``)."""
    import optuna

    if not has_study_tables(storage):
        return 0
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return 0
    return finished_count(study)


def finished_count(study: optuna.Study) -> int:
    """Return the number of completed and pruned trials of ``study``, those
    that end the start-up of its TPE sampler."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def completed_count(study: optuna.Study) -> int:
    """Return the number of completed trials of ``study``, the only ones
    that end the start-up of its median pruner."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE,)
    return len(study.get_trials(deepcopy=False, states=states))


def startup_note(
    params: TuningSpec, finished: int, completed: int, study_name: str
) -> str | None:
    """Return the note of a run whose ``trials`` and the ``finished``
    completed and pruned trials of its study ``study_name`` stay below
    ``startup_trials``, else None. ``completed`` is the number of those
    trials that completed.

    The check before the run lets such a run pass with the default
    ``startup_trials``, and with any value when trials finished in the study
    since, or could not be counted then. TPE then samples none of the run's
    trials and the pruner prunes none, unless other processes add enough
    trials to the study while it runs. The note names how many: TPE counts
    completed and pruned trials, the median pruner only completed ones
    (optuna 5.1, ``pruners/_percentile.py``). Neither this note nor the
    check counts those trials, because they do not exist yet when the run
    starts.
    """
    startup, trials = params.startup_trials, params.trials
    missing = startup - trials - finished
    if missing <= 0:
        return None
    # the last trial of the run is sampled, or reports its epochs, after at
    # most trials - 1 trials of the run have ended
    sampler_missing = missing + 1
    pruner_missing = startup - trials - completed + 1
    startup_name = params.input_name("startup_trials")
    trials_name = params.input_name("trials")
    return (
        f"{setting(startup_name, startup)} is above "
        f"{setting(trials_name, trials)} plus the {finished} completed and "
        f"pruned trials of study {study_name}, so this run samples every trial "
        "at random and prunes none, unless other processes add trials to the "
        "study while it runs. TPE samples the last trial only if they add "
        f"{sampler_missing} or more completed or pruned trials before it "
        "starts, and the median pruner, which counts only completed trials, "
        f"can prune only if they add {pruner_missing} or more completed "
        f"trials. Set {setting(startup_name, trials + finished)} or less for a "
        f"random search, or raise {trials_name} to {startup - finished + 1} or "
        "more so that TPE samples the last trials"
    )


def has_study_tables(storage: str) -> bool:
    """Return whether the database ``storage`` has optuna's table of
    studies, without creating anything.

    A SQLite database is read only from a file that exists, which is opened
    read-only, whatever mode its URL gives, so no form of SQLite URL creates
    a file or folder. An in-memory SQLite database has no tables.
    """
    url = make_url(storage)
    if url.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        if path is None or not path.is_file():
            return False
        engine = _read_only_sqlite(path)
    else:
        engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return inspect(connection).has_table(OPTUNA_STUDIES_TABLE)
    finally:
        engine.dispose()


def _read_only_sqlite(path: Path) -> Engine:
    """Return an engine that opens the SQLite file ``path`` read-only, so
    that its errors are SQLAlchemy's as for other databases."""
    uri = f"file:{quote(str(path))}?mode=ro"
    return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
