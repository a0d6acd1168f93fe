"""Trials left running by an exited process are failed when a study
resumes; trials of live processes and of other hosts are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState

from models.processes import process_label
from models.stale_trials import WORKER_ATTR, fail_stale_trials


def exited_pid() -> int:
    """Return the pid of a process that has exited and was reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_trials_of_exited_processes_fail(tmp_path: Path) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    workers = [
        process_label(exited_pid()),
        process_label(os.getppid()),
        "another-host.example:1",
        None,
    ]
    for worker in workers:
        trial = study.ask()
        if worker is not None:
            trial.set_user_attr(WORKER_ATTR, worker)

    failed = fail_stale_trials(study)

    states = [trial.state for trial in study.get_trials()]
    assert failed == [0]
    assert states == [TrialState.FAIL] + [TrialState.RUNNING] * 3
    assert fail_stale_trials(study) == []
