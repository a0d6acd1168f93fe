"""The Optuna storage of tuning studies, with heartbeats of running trials.

Optuna's ``RDBStorage`` (read in Optuna 5.1) can record a heartbeat for each
trial that ``Study.optimize`` runs: a thread of that process writes the
database's current time into the table ``trial_heartbeats`` every
``heartbeat_interval`` seconds while the trial runs. Before each trial,
``Study.optimize`` fails the running trials of the study whose last
heartbeat is older than ``grace_period`` seconds, on any host. A trial whose
process was killed on another host, which ``models.stale_trials`` cannot
check, therefore fails at the next trial that any process runs in the study
once its grace period has passed. A trial without any heartbeat, such as one
written with heartbeats off, is never failed this way.

Every process that shares a study should use the same interval, because the
process that checks applies its own grace period to every trial.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import TYPE_CHECKING

from models.errors import InvalidInputError
from models.stale_trials import WORKER_ATTR

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

logger = logging.getLogger(__name__)

HEARTBEAT_VARIABLE = "RNN_FORECAST_TUNING_HEARTBEAT_SECONDS"
DEFAULT_HEARTBEAT_SECONDS = 30
MAX_HEARTBEAT_SECONDS = 3600
# The grace period is twice the heartbeat interval, the default of Optuna 5.1.
GRACE_PERIOD_FACTOR = 2


def default_heartbeat_seconds() -> int:
    """Return ``$RNN_FORECAST_TUNING_HEARTBEAT_SECONDS`` when set and not
    blank, else ``DEFAULT_HEARTBEAT_SECONDS``.

    Raises ``InvalidInputError`` naming the variable when its value is not a
    whole number from 0 to ``MAX_HEARTBEAT_SECONDS``.
    """
    text = os.environ.get(HEARTBEAT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_HEARTBEAT_SECONDS
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_HEARTBEAT_SECONDS:
        raise InvalidInputError(
            f"{HEARTBEAT_VARIABLE}={text!r} is invalid; set it to a whole number "
            f"of seconds from 1 to {MAX_HEARTBEAT_SECONDS}, or 0 to turn the "
            "heartbeats of tuning trials off",
            field="heartbeat_seconds",
        )
    return int(text)


def open_study_storage(url: str, heartbeat_seconds: int) -> optuna.storages.RDBStorage:
    """Open the study database at the SQLAlchemy ``url``.

    Running trials record a heartbeat every ``heartbeat_seconds``, and a
    running trial whose last heartbeat is older than ``GRACE_PERIOD_FACTOR``
    times that is failed before the next trial starts. 0 turns heartbeats
    off. Database errors propagate from SQLAlchemy.
    """
    import optuna

    if heartbeat_seconds == 0:
        return optuna.storages.RDBStorage(url)

    with warnings.catch_warnings():
        # Optuna 5.1 warns that heartbeat_interval is an experimental argument.
        warnings.filterwarnings(
            "ignore", category=optuna.exceptions.ExperimentalWarning
        )
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=heartbeat_seconds,
            grace_period=GRACE_PERIOD_FACTOR * heartbeat_seconds,
            heartbeat_stale_trial_callback=log_stale_trial,
        )


def log_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Log a trial that Optuna failed because its heartbeat stopped."""
    logger.warning(
        "study %s: marked trial %d failed, because its process (%s) recorded "
        "no heartbeat for the grace period",
        study.study_name,
        trial.number,
        trial.user_attrs.get(WORKER_ATTR, "unknown"),
    )
