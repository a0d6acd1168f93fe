"""Helpers for the recovery tests: jobs stopped at chosen points of their
run, and heartbeats moved into the past."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from sqlalchemy import update

from models.spec import TrainingSpec
from service.jobs.execution import StoreContext
from service.jobs.store import RUNNING, WRITING_STAGE, JobStore, jobs_table
from service.jobs.train_kind import run_training
from tests.service.jobs_support import tiny_job

TINY_TRAIN = tiny_job(name="swept", epochs=1, patience=None)


def age_heartbeat(store: JobStore, job_id: str) -> None:
    """Move the job's last heartbeat 100 s into the past."""
    with store.engine.begin() as conn:
        conn.execute(
            update(jobs_table)
            .where(jobs_table.c.id == job_id)
            .values(heartbeat_at=time.time() - 100)
        )


def writing_job(store: JobStore) -> str:
    """Create a running job in the stage ``WRITING_STAGE``."""
    job_id = store.create("train", {}).id
    store.claim(job_id, "elsewhere:1")
    assert store.begin_write(job_id, {"stage": WRITING_STAGE})
    return job_id


def exited_pid() -> int:
    """Return the pid of a real process that has exited, so certainly not
    alive."""
    process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    process.start()
    process.join()
    assert process.pid is not None
    return process.pid


def stopped_after_write(store: JobStore, settings: Any, worker: str) -> str:
    """Run a tiny training job up to its registry write and stop there, as a
    worker killed right after it moved its version into place would."""
    job = store.create("train", TINY_TRAIN)
    claimed = store.claim(job.id, worker)
    assert claimed is not None

    spec = TrainingSpec.model_validate(claimed.params)
    run_training(spec, StoreContext(store, claimed, settings))

    assert store.get(job.id).status == RUNNING
    return job.id
