"""The job store on SQLite and on PostgreSQL: transitions, claims, cancel,
pagination and recovery of interrupted jobs."""

from __future__ import annotations

import multiprocessing
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.engine import Connection

from models.errors import ConflictError, NotFoundError
from models.registry import Registry
from service.jobs.recovery import (
    fail_dead_local_jobs,
    fail_interrupted,
    fail_stale_jobs,
    interrupted_error_of,
)
from service.jobs.store import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    WRITING_STAGE,
    Job,
    JobStore,
    QueueFullError,
    jobs_table,
    sqlite_url,
)
from service.jobs.views import shown_progress
from tests.service.jobs_support import open_job_store, writing_conflict


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    with open_job_store(request.param, tmp_path) as job_store:
        yield job_store


def test_job_goes_queued_running_succeeded(store: JobStore) -> None:
    job = store.create("train", {"epochs": 2})
    assert job.status == QUEUED
    assert job.revision == 1

    claimed = store.claim(job.id, "host:1")
    assert claimed is not None
    assert claimed.status == RUNNING
    assert claimed.started_at is not None
    # the claim and the begin
    assert claimed.revision == 3

    assert store.report(job.id, {"epoch": 1}, [{"epoch": 1, "val_loss": 0.5}])
    assert store.finish(job.id, SUCCEEDED, result={"name": "m", "version": 3})

    done = store.get(job.id)
    assert done.status == SUCCEEDED
    assert done.progress == {"epoch": 1}
    assert done.history == [{"epoch": 1, "val_loss": 0.5}]
    assert done.result == {"name": "m", "version": 3}
    assert done.finished_at is not None
    assert done.revision == 5


def test_finished_job_never_runs_again(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "host:1")
    store.finish(job.id, FAILED, error="boom")

    assert store.claim(job.id, "host:2") is None
    assert not store.report(job.id, {"epoch": 2})
    assert not store.finish(job.id, SUCCEEDED, result={})
    assert store.get(job.id).status == FAILED
    assert store.get(job.id).error == "boom"


def test_heartbeat_keeps_revision(store: JobStore) -> None:
    job = store.create("train", {})
    claimed = store.claim(job.id, "host:1")
    assert claimed is not None

    assert store.heartbeat(job.id)
    assert store.get(job.id).revision == claimed.revision


def test_only_one_claim_wins(store: JobStore) -> None:
    job = store.create("train", {})
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def claim(worker: str) -> None:
        barrier.wait()
        if store.claim(job.id, worker) is not None:
            winners.append(worker)

    threads = [threading.Thread(target=claim, args=(f"h:{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(winners) == 1
    assert store.get(job.id).worker == winners[0]


def test_queue_limit_holds_under_racing_submissions(store: JobStore) -> None:
    limit = 5
    # a second engine on the same database, as a second API process has
    other = JobStore(store.url)
    outcomes: list[str] = []
    barrier = threading.Barrier(16)

    def submit(target: JobStore) -> None:
        barrier.wait()
        try:
            target.create("train", {}, max_queued=limit)
            outcomes.append("queued")
        except QueueFullError:
            outcomes.append("full")

    threads = [
        threading.Thread(target=submit, args=(store if i % 2 else other,))
        for i in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()

    assert outcomes.count("queued") == limit
    assert outcomes.count("full") == 16 - limit
    assert store.count(QUEUED) == limit


def test_submission_waits_for_submission_lock(store: JobStore) -> None:
    # a second engine on the same database, as a second API process has
    other = JobStore(store.url)
    created = threading.Event()

    def submit() -> None:
        other.create("train", {})
        created.set()

    thread = threading.Thread(target=submit)
    with store.submission_lock() as conn:
        thread.start()
        waited = created.wait(timeout=0.5)
        seen_inside = store.unfinished_params(conn)
    thread.join(timeout=30)
    other.close()

    assert not waited
    assert seen_inside == []
    assert created.is_set()
    assert store.count(QUEUED) == 1


def test_failed_guard_stores_no_job(store: JobStore) -> None:
    def guard(conn: Connection) -> None:
        raise ConflictError("gone", field="data.series_id")

    with pytest.raises(ConflictError):
        store.create("train", {}, max_queued=5, guard=guard)

    assert store.count(QUEUED) == 0


def test_guard_reads_unfinished_jobs_of_kind(store: JobStore) -> None:
    first = store.create("tuning", {"n": 1})
    store.create("train", {"n": 2})
    seen: list[list[tuple[str, str]]] = []

    def guard(conn: Connection) -> None:
        jobs = store.unfinished_jobs(conn, "tuning")
        seen.append([(job.id, job.status) for job in jobs])

    third = store.create("tuning", {"n": 3}, guard=guard)
    store.claim(first.id, "host:1")
    store.create("tuning", {"n": 4}, guard=guard)

    assert seen[0] == [(first.id, QUEUED)]
    assert seen[1] == [(first.id, RUNNING), (third.id, QUEUED)]


def test_full_queue_message_names_the_setting(store: JobStore) -> None:
    store.create("train", {}, max_queued=1)

    with pytest.raises(QueueFullError) as caught:
        store.create("train", {}, max_queued=1)

    assert "full with 1 queued job (the limit is 1)" in str(caught.value)
    assert "RNN_FORECAST_MAX_QUEUED_JOBS" in str(caught.value)
    assert store.count(QUEUED) == 1


def test_finished_jobs_leave_room_in_queue(store: JobStore) -> None:
    first = store.create("train", {}, max_queued=1)
    assert store.claim(first.id, "host:1") is not None

    second = store.create("train", {}, max_queued=1)

    assert second.status == QUEUED


def test_claim_next_takes_oldest(store: JobStore) -> None:
    first = store.create("train", {"n": 1})
    store.create("train", {"n": 2})

    claimed = store.claim_next("host:1")
    assert claimed is not None
    assert claimed.id == first.id


def test_cancel_queued_job_is_immediate(store: JobStore) -> None:
    job = store.create("train", {})
    cancelled = store.request_cancel(job.id)
    assert cancelled.status == CANCELLED
    assert cancelled.cancel_requested
    assert store.claim(job.id, "host:1") is None


def test_cancel_running_job_sets_flag(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "host:1")

    flagged = store.request_cancel(job.id)
    assert flagged.status == RUNNING
    assert flagged.cancel_requested
    assert store.cancel_state(job.id) == (RUNNING, True)


def test_cancel_finished_job_conflicts(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "host:1")
    store.finish(job.id, SUCCEEDED, result={})

    with pytest.raises(
        ConflictError, match="has already finished with status succeeded"
    ):
        store.request_cancel(job.id)


def test_cancel_writing_job_conflicts(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "host:1")
    store.report(job.id, {"stage": "training", "epoch": 1})

    assert store.begin_write(job.id, {"stage": WRITING_STAGE, "epoch": 1})
    with pytest.raises(ConflictError, match=re.escape(writing_conflict(job.id))):
        store.request_cancel(job.id)

    writing = store.get(job.id)
    assert writing.status == RUNNING
    assert not writing.cancel_requested
    assert writing.progress == {"stage": WRITING_STAGE, "epoch": 1}


def test_write_between_cancel_read_and_update(
    store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = store.create("train", {})
    store.claim(job.id, "host:1")
    read_job = store.get
    writes: list[bool] = []

    def read_then_begin_write(job_id: str) -> Job:
        read = read_job(job_id)
        if not writes:
            writes.append(store.begin_write(job_id, {"stage": WRITING_STAGE}))
        return read

    monkeypatch.setattr(store, "get", read_then_begin_write)
    with pytest.raises(ConflictError, match=re.escape(writing_conflict(job.id))):
        store.request_cancel(job.id)

    assert writes == [True]
    assert not read_job(job.id).cancel_requested


def test_begin_write_needs_writing_stage(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "host:1")

    expected = "progress stage must be 'writing version', got 'training'"
    with pytest.raises(ValueError, match=re.escape(expected)):
        store.begin_write(job.id, {"stage": "training"})

    assert store.get(job.id).progress is None


def test_progress_stage_before_first_report(store: JobStore) -> None:
    job = store.create("lag_experiment", {})
    queued = shown_progress(store.get(job.id))
    store.claim(job.id, "host:1")
    started = shown_progress(store.get(job.id))
    store.report(job.id, {"stage": "training", "step": 100})
    reported = shown_progress(store.get(job.id))

    assert queued == {"stage": "queued"}
    assert started == {"stage": "starting"}
    assert reported == {"stage": "training", "step": 100}


def test_write_after_cancel_is_rejected(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "host:1")
    store.request_cancel(job.id)

    assert not store.begin_write(job.id, {"stage": WRITING_STAGE})
    assert store.get(job.id).progress is None


def test_cancel_job_without_stage_sets_flag(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "host:1")
    store.report(job.id, {"epoch": 0})

    assert store.request_cancel(job.id).cancel_requested
    assert not store.begin_write(job.id, {"stage": WRITING_STAGE})


def test_unknown_job_not_found(store: JobStore) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        store.get("0" * 32)


def test_list_newest_first_with_cursor(store: JobStore) -> None:
    ids = [store.create("train", {"n": i}).id for i in range(5)]
    store.create("other", {})

    first = store.list_jobs(kinds=["train"], limit=2)
    assert [job.id for job in first] == ids[::-1][:2]

    last = first[-1]
    second = store.list_jobs(
        kinds=["train"], limit=2, before=(last.created_at, last.id)
    )
    assert [job.id for job in second] == ids[::-1][2:4]

    queued = store.list_jobs(statuses=[QUEUED], limit=50)
    assert len(queued) == 6
    assert store.count(QUEUED) == 6


def test_stale_heartbeat_fails_job(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "elsewhere:1")
    fresh = store.create("train", {})
    store.claim(fresh.id, "elsewhere:2")
    # the stale job's worker last reported 100 s ago
    with store.engine.begin() as conn:
        conn.execute(
            update(jobs_table)
            .where(jobs_table.c.id == job.id)
            .values(heartbeat_at=time.time() - 100)
        )

    failed = fail_stale_jobs(store, timeout=50)

    assert failed == [job.id]
    stale = store.get(job.id)
    assert stale.status == FAILED
    assert stale.error is not None
    assert stale.error.startswith("interrupted: no heartbeat")
    assert store.get(fresh.id).status == RUNNING


def test_dead_local_worker_fails_job(store: JobStore) -> None:
    # a real process that has exited gives a pid that is certainly not alive
    process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    process.start()
    process.join()
    host = socket.gethostname()

    dead = store.create("train", {})
    store.claim(dead.id, f"{host}:{process.pid}")
    alive = store.create("train", {})
    store.claim(alive.id, f"{host}:{os.getppid()}")
    remote = store.create("train", {})
    store.claim(remote.id, f"not-{host}:{process.pid}")

    failed = fail_dead_local_jobs(store, when="at start-up")

    assert failed == [dead.id]
    error = store.get(dead.id).error
    assert error is not None
    assert error.startswith(f"interrupted: worker process {process.pid} on {host}")
    assert store.get(alive.id).status == RUNNING
    assert store.get(remote.id).status == RUNNING


def set_heartbeat_age(store: JobStore, job_id: str, seconds: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(jobs_table)
            .where(jobs_table.c.id == job_id)
            .values(heartbeat_at=time.time() - seconds)
        )


def test_stale_cancelled_job_ends_cancelled(store: JobStore) -> None:
    cancelled = store.create("train", {})
    store.claim(cancelled.id, "elsewhere:1")
    store.request_cancel(cancelled.id)
    set_heartbeat_age(store, cancelled.id, 100)
    stale = store.create("train", {})
    store.claim(stale.id, "elsewhere:2")
    set_heartbeat_age(store, stale.id, 100)

    ended = fail_stale_jobs(store, timeout=50)

    assert sorted(ended) == sorted([cancelled.id, stale.id])
    job = store.get(cancelled.id)
    assert job.status == CANCELLED
    assert job.error is None
    assert job.finished_at is not None
    assert store.get(stale.id).status == FAILED


def test_dead_local_cancelled_job_ends_cancelled(store: JobStore) -> None:
    process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    process.start()
    process.join()
    job = store.create("train", {})
    store.claim(job.id, f"{socket.gethostname()}:{process.pid}")
    store.request_cancel(job.id)

    ended = fail_dead_local_jobs(store, when="at start-up")

    assert ended == [job.id]
    cancelled = store.get(job.id)
    assert cancelled.status == CANCELLED
    assert cancelled.error is None


def exited_pid() -> int:
    """Return the pid of a real process that has exited."""
    process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    process.start()
    process.join()
    assert process.pid is not None
    return process.pid


def test_dead_local_claim_requeues_unbegun_job(store: JobStore) -> None:
    label = f"{socket.gethostname()}:{exited_pid()}"
    unbegun = store.create("train", {})
    store.claim(unbegun.id, label, started=False)
    begun = store.create("train", {})
    store.claim(begun.id, label, started=False)
    store.begin_work(begun.id, label, label)
    cancelled = store.create("train", {})
    store.claim(cancelled.id, label, started=False)
    store.request_cancel(cancelled.id)

    ended = fail_dead_local_jobs(store, when="at start-up")

    assert sorted(ended) == sorted([begun.id, cancelled.id])
    requeued = store.get(unbegun.id)
    assert requeued.status == QUEUED
    assert requeued.worker is None
    assert requeued.error is None
    assert store.get(begun.id).status == FAILED
    assert store.get(cancelled.id).status == CANCELLED


def test_stale_sweep_requeues_unbegun_job(store: JobStore) -> None:
    unbegun = store.create("train", {})
    store.claim(unbegun.id, "elsewhere:1", started=False)
    set_heartbeat_age(store, unbegun.id, 100)
    fresh = store.create("train", {})
    store.claim(fresh.id, "elsewhere:1", started=False)

    ended = fail_stale_jobs(store, timeout=50)

    assert ended == []
    requeued = store.get(unbegun.id)
    assert requeued.status == QUEUED
    assert requeued.worker is None
    assert requeued.heartbeat_at is None
    assert requeued.error is None
    assert requeued.finished_at is None
    assert not store.begin_work(unbegun.id, "elsewhere:1", "elsewhere:2")
    assert store.get(fresh.id).status == RUNNING


def test_stale_sweep_fails_begun_job(store: JobStore) -> None:
    begun = store.create("train", {})
    store.claim(begun.id, "elsewhere:1", started=False)
    assert store.begin_work(begun.id, "elsewhere:1", "elsewhere:2")
    set_heartbeat_age(store, begun.id, 100)

    ended = fail_stale_jobs(store, timeout=50)

    assert ended == [begun.id]
    failed = store.get(begun.id)
    assert failed.status == FAILED
    assert failed.error is not None
    assert failed.error.startswith("interrupted: no heartbeat")


def test_stale_sweep_cancels_unbegun_job(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "elsewhere:1", started=False)
    store.request_cancel(job.id)
    set_heartbeat_age(store, job.id, 100)

    ended = fail_stale_jobs(store, timeout=50)

    assert ended == [job.id]
    cancelled = store.get(job.id)
    assert cancelled.status == CANCELLED
    assert cancelled.error is None


class BeginsDuringSweep(JobStore):
    """A store whose unbegun job is begun by its child between the sweep's
    read of the stale jobs and its requeue."""

    def requeue_unstarted(
        self, job_id: str, claimed_by: str, heartbeat_before: float | None = None
    ) -> bool:
        assert self.begin_work(job_id, claimed_by, "elsewhere:2")
        return super().requeue_unstarted(job_id, claimed_by, heartbeat_before)


def test_stale_sweep_keeps_job_begun_meanwhile(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "elsewhere:1", started=False)
    set_heartbeat_age(store, job.id, 100)
    racing = BeginsDuringSweep(store.url)

    try:
        ended = fail_stale_jobs(racing, timeout=50)
    finally:
        racing.close()

    assert ended == []
    begun = store.get(job.id)
    assert begun.status == RUNNING
    assert begun.worker == "elsewhere:2"
    assert begun.started_at is not None


def test_fail_interrupted_skips_other_worker(store: JobStore, tmp_path: Path) -> None:
    job = store.create("train", {})
    store.claim(job.id, "api:1", started=False)
    set_heartbeat_age(store, job.id, 100)
    fail_stale_jobs(store, timeout=50)
    store.claim(job.id, "api:2")
    registry = Registry(tmp_path / "registry")

    ended = fail_interrupted(
        store, job.id, interrupted_error_of("exited"), registry, ("api:1", "api:3")
    )

    assert ended is None
    claimed = store.get(job.id)
    assert claimed.status == RUNNING
    assert claimed.worker == "api:2"
    assert (
        fail_interrupted(
            store, job.id, interrupted_error_of("exited"), registry, ("api:2",)
        )
        == FAILED
    )


def test_begin_work_records_heartbeat(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "api:1", started=False)
    set_heartbeat_age(store, job.id, 100)

    assert store.begin_work(job.id, "api:1", "api:2")

    heartbeat_at = store.get(job.id).heartbeat_at
    assert heartbeat_at is not None
    assert heartbeat_at > time.time() - 50


def test_sqlite_store_uses_wal(tmp_path: Path) -> None:
    job_store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    with job_store.engine.connect() as conn:
        mode = conn.execute(text("PRAGMA journal_mode")).scalar_one()
    job_store.close()
    assert mode == "wal"


@pytest.mark.parametrize(
    ("store_url", "database"),
    [
        ("sqlite:///file:{stores}/new/jobs.db?uri=true", "new/jobs.db"),
        ("sqlite:///file://localhost{stores}/new/jobs.db?uri=true", "new/jobs.db"),
        # SQLAlchemy decodes %20 in the database name
        ("sqlite:///{stores}/my%20store/jobs.db", "my store/jobs.db"),
    ],
)
def test_sqlite_store_files_where_sqlite_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str, database: str
) -> None:
    """Check that the store creates the database's folder, and its schema
    lock beside the database, where SQLite opens the file that the URL
    names, and nothing in the working folder."""
    working = tmp_path / "working"
    working.mkdir()
    monkeypatch.chdir(working)
    stores = tmp_path / "stores"
    database_path = stores / database

    job_store = JobStore(store_url.format(stores=stores))
    job = job_store.create("train", {})
    job_store.close()
    reopened = JobStore(sqlite_url(database_path))
    stored = reopened.get(job.id)
    reopened.close()

    assert stored.status == QUEUED
    assert database_path.with_name("jobs.db.schema-lock").is_file()
    assert list(working.iterdir()) == []


def test_requeue_unstarted_job(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "api:1", started=False)

    assert store.requeue_unstarted(job.id, "api:1")
    requeued = store.get(job.id)
    assert requeued.status == QUEUED
    assert requeued.worker is None
    assert requeued.started_at is None
    assert not store.begin_work(job.id, "api:1", "api:2")
    assert store.claim(job.id, "api:3") is not None


def test_requeue_fails_after_begin(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "api:1", started=False)

    assert store.begin_work(job.id, "api:1", "api:2")
    assert not store.requeue_unstarted(job.id, "api:1")
    begun = store.get(job.id)
    assert begun.status == RUNNING
    assert begun.worker == "api:2"
    assert begun.started_at is not None


def test_unstarted_claim_has_no_start_time(store: JobStore) -> None:
    job = store.create("train", {})

    claimed = store.claim(job.id, "api:1", started=False)

    assert claimed is not None
    assert claimed.status == RUNNING
    assert claimed.started_at is None
    assert claimed.heartbeat_at is not None


def test_requeue_skips_started_claim(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "api:1")

    assert not store.requeue_unstarted(job.id, "api:1")
    assert store.get(job.id).status == RUNNING


def test_requeue_keeps_cancel_requested(store: JobStore) -> None:
    job = store.create("train", {})
    store.claim(job.id, "api:1", started=False)
    store.request_cancel(job.id)

    assert not store.requeue_unstarted(job.id, "api:1")
    assert store.get(job.id).status == RUNNING
