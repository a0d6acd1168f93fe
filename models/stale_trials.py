"""Trials that a killed or interrupted process left ``running`` in a study.

Optuna's ``Study.optimize`` (read in Optuna 5.1) finishes a trial when the
objective returns or raises an ``Exception`` or ``KeyboardInterrupt``. A
trial whose process was killed (``kill -9``) or ended by ``SystemExit``
stays ``running`` in the study database until something else fails it.

The trial heartbeats of ``models.trial_heartbeats`` fail such a trial on any
host, but only after their grace period. Each trial therefore also records
the process that runs it, and a run that resumes the study marks the trials
of exited processes on its host as failed at once, through ``Study.tell``.
This also fails a trial that recorded no heartbeat, such as one run with
heartbeats off.

NOTE: a trial of a process on another host that recorded no heartbeat is
left running, because this host cannot tell whether that process is alive.
So is a trial written before trials recorded their process.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from models.processes import local_pid, local_process_gone, process_label

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

# the trial's user attribute that records its process, "<host>:<pid>"
WORKER_ATTR = "worker"


def record_worker(trial: optuna.Trial) -> None:
    """Record this process as the one that runs ``trial``."""
    trial.set_user_attr(WORKER_ATTR, process_label())


def fail_stale_trials(study: optuna.Study) -> list[int]:
    """Mark failed the running trials of ``study`` whose process on this
    host has exited, and return their numbers.

    Call it before this process starts a trial of the study. A trial that
    another process finishes meanwhile is skipped.
    """
    import optuna
    from optuna.trial import TrialState

    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = local_pid(trial.user_attrs.get(WORKER_ATTR))
        if pid is None or not local_process_gone(pid):
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
        failed.append(trial.number)

    if failed:
        logger.warning(
            "study %s: marked trials %s failed, because their process on this "
            "host exited while they ran",
            study.study_name,
            failed,
        )
    return failed
