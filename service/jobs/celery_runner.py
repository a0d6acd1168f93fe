"""The API side of the Celery runner: publish job ids to the broker, check
that the broker is reachable, and check that the workers use the API's
broker visibility timeout."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from kombu.utils.url import maybe_sanitize_url

from models.plurals import plural
from models.registry import Registry
from service.errors import RetryLaterError
from service.jobs.broker_messages import BrokerLayoutError, held_job_ids, uses_redis
from service.jobs.celery_app import ROOT_PATH_HEADER, RUN_JOB_TASK, make_celery
from service.jobs.recovery import fail_stale_jobs
from service.jobs.runner_state import OK, UNAVAILABLE, UNKNOWN, RunnerState
from service.jobs.store import FAILED, QUEUED, Job, JobStore
from service.jobs.worker_listing import WorkerTimeouts
from service.jobs.worker_settings import worker_visibility_timeouts
from service.settings import Settings

logger = logging.getLogger(__name__)

PUBLISH_RETRY = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1.0,
}
# how often a thread connects to the broker for the health endpoint, which is
# also the Retry-After of a submission that found the broker unreachable
BROKER_CHECK_SECONDS = 10
BROKER_CONNECT_TIMEOUT_SECONDS = 3.0


class CeleryRunner:
    """Sends each queued job to Celery workers; a thread in the API fails
    jobs whose worker stopped heartbeating.

    Cancelling is cooperative: the worker reads the flag at its next
    ``should_stop`` check (before every training batch) and before it writes
    a registry version. Another thread
    connects to the broker every ``BROKER_CHECK_SECONDS``, and every publish
    updates the state that ``state`` returns too. That thread publishes the
    queued jobs again at its first successful check and whenever the broker
    is reachable again, and after each successful check requests the workers'
    visibility timeouts (see ``check_workers``). A third thread publishes
    again every queued job whose message the broker lost without being
    unreachable, every ``RNN_FORECAST_BROKER_MESSAGE_CHECK_SECONDS`` (see
    ``check_messages``).
    """

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        self.celery = make_celery(
            settings.broker_url, settings.broker_visibility_timeout_seconds
        )
        self.broker = maybe_sanitize_url(settings.broker_url)
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._sweep_loop, name="job-heartbeat-sweep", daemon=True
        )
        self._check_thread = threading.Thread(
            target=self._check_loop, name="broker-check", daemon=True
        )
        self._message_thread = threading.Thread(
            target=self._message_loop, name="broker-message-check", daemon=True
        )
        self._state = RunnerState(
            "celery", UNKNOWN, f"the broker {self.broker} has not been checked yet"
        )
        # whether every queued job was published since the API started or the
        # broker was last found unreachable
        self._queued_published = False
        # queued jobs without a message in the broker at the last check
        self._missing: set[str] = set()
        self._workers = WorkerTimeouts(
            settings.broker_visibility_timeout_seconds,
            settings.worker_forget_seconds,
        )

    def start(self) -> None:
        self._thread.start()
        # its first check publishes the queued jobs
        self._check_thread.start()
        if self.settings.broker_message_check_seconds > 0:
            self._message_thread.start()
        logger.info("Celery job runner started with broker %s", self.broker)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        self._check_thread.join(timeout=10)
        if self._message_thread.is_alive():
            self._message_thread.join(timeout=10)

    def state(self) -> RunnerState:
        """Return the broker's state as of the last check or publish, with
        the workers whose visibility timeout differed or was unknown at the
        last checks."""
        listing = self._workers.listing()
        return replace(
            self._state,
            mismatched_visibility_timeouts=listing.mismatched,
            unknown_visibility_timeouts=listing.unknown,
            worker_replied_at=listing.replied_at,
        )

    def submitted(self, job: Job) -> None:
        """Publish ``job``; when the broker is unreachable, fail it and raise
        ``RetryLaterError`` (HTTP 503 with Retry-After)."""
        try:
            self._publish(job.id)
        except Exception as exc:
            logger.error("publishing job %s to %s failed: %s", job.id, self.broker, exc)
            self._record(exc)
            self._queued_published = False
            error = f"the job queue at {self.broker} is unreachable"
            self.store.finish(job.id, FAILED, error=error, from_statuses=(QUEUED,))
            raise RetryLaterError(
                f"{error}, so job {job.id} failed; retry in {BROKER_CHECK_SECONDS} s",
                retry_after=BROKER_CHECK_SECONDS,
                field="broker",
            ) from exc
        self._record(None)

    def cancel_requested(self, job: Job) -> None:
        """Nothing to do: the worker polls the store's cancel flag."""

    def _publish(self, job_id: str) -> None:
        """Publish the message that runs ``job_id``, with the API's root path
        for the API paths in the job's errors."""
        self.celery.send_task(
            RUN_JOB_TASK,
            args=[job_id],
            headers={ROOT_PATH_HEADER: self.settings.root_path},
            retry=True,
            retry_policy=PUBLISH_RETRY,
        )

    def check_broker(self) -> None:
        """Connect to the broker once and record the outcome. On the first
        success after the API started or the broker was unreachable, publish
        every queued job again.

        A broker restarted without persistence loses its messages, and
        publishing a job twice is safe because workers claim jobs with a
        conditional update.
        """
        error = self._connect_error()
        self._record(error)
        if error is not None:
            self._queued_published = False
        elif not self._queued_published:
            self._queued_published = self._publish_queued()

    def check_workers(self) -> dict[str, float | str]:
        """Request every worker's broker visibility timeout, record the
        workers whose timeout differs from the API's or is unknown, and
        return the replies by worker name: seconds, or the reason why the
        timeout is unknown.

        Logs one warning for each worker and value that differs (see
        ``worker_listing``). A worker that replied to no check for
        ``RNN_FORECAST_WORKER_FORGET_SECONDS`` leaves the list, so a stopped
        worker leaves it, and a busy one stays. Waits
        ``worker_settings.INSPECT_TIMEOUT_SECONDS``.
        """
        replies = worker_visibility_timeouts(self.celery)
        self._workers.record(replies)
        return replies

    def _publish_queued(self) -> bool:
        """Publish every queued job; True when every publish succeeded."""
        published = True
        job_ids = self.store.ids_with_status(QUEUED)
        for job_id in job_ids:
            try:
                self._publish(job_id)
            except Exception as exc:
                logger.warning("could not publish queued job %s again: %s", job_id, exc)
                published = False
        if job_ids and published:
            logger.info("published %d queued jobs again: %s", len(job_ids), job_ids)
        return published

    def check_messages(self) -> list[str]:
        """Publish again each queued job that has no message in the broker
        at this check and had none at the previous one, and return the ids
        published, oldest first. A job whose publish failed is published at
        the next check that still misses its message.

        A broker that loses its messages without an outage that the broker
        check detects, such as Redis restarted without persistence between two
        checks, would leave those jobs queued forever. Two checks in a row
        pass over a job that was being published or whose message a worker
        was taking during one of them. A message that arrives twice is
        harmless, because a worker claims its job with a conditional update
        from ``queued`` to ``running`` and skips a job that is not queued.
        Reads nothing from the broker while no job is queued. Raises
        ``BrokerLayoutError`` when the installed kombu stores its queues in
        a way that ``broker_messages.redis_keys`` cannot read.
        """
        queued = self.store.ids_with_status(QUEUED)
        if not queued:
            self._missing = set()
            return []
        held = held_job_ids(self.celery)
        missing = [job_id for job_id in queued if job_id not in held]
        lost = [job_id for job_id in missing if job_id in self._missing]
        self._missing = set(missing) - set(lost)
        published = []
        for job_id in lost:
            try:
                self._publish(job_id)
            except Exception as exc:
                logger.warning("could not publish lost job %s again: %s", job_id, exc)
                self._missing.add(job_id)
            else:
                published.append(job_id)
        if published:
            logger.warning(
                "the broker %s had lost the messages of %s, which were "
                "published again: %s",
                self.broker,
                plural(len(published), "queued job"),
                published,
            )
        return published

    def _message_loop(self) -> None:
        interval = self.settings.broker_message_check_seconds
        try:
            if not uses_redis(self.celery):
                logger.warning(
                    "the broker %s is not Redis, so queued jobs whose message "
                    "it lost are not published again",
                    self.broker,
                )
                return
        except Exception as exc:
            logger.warning("could not open the broker %s: %s", self.broker, exc)
        while not self._stopping.wait(interval):
            try:
                self.check_messages()
            except BrokerLayoutError as exc:
                # the installed kombu does not change while the API runs
                logger.warning(
                    "the check for lost broker messages is off until the API "
                    "restarts, because it cannot read the queue of %s: %s",
                    self.broker,
                    exc,
                )
                return
            except Exception as exc:
                # the broker check already logs an unreachable broker
                level = (
                    logging.DEBUG
                    if self._state.status == UNAVAILABLE
                    else logging.WARNING
                )
                logger.log(
                    level,
                    "could not read the messages of the broker %s: %s",
                    self.broker,
                    exc,
                )

    def _check_loop(self) -> None:
        while True:
            try:
                self.check_broker()
            except Exception:
                logger.exception("broker check failed")
            if self._state.status == OK:
                self._check_workers_logged()
            if self._stopping.wait(BROKER_CHECK_SECONDS):
                return

    def _check_workers_logged(self) -> None:
        try:
            self.check_workers()
        except Exception as exc:
            logger.warning(
                "requesting the settings of the Celery workers on %s failed: %s",
                self.broker,
                exc,
            )

    def _connect_error(self) -> Exception | None:
        """Connect to the broker once; return the error, or None."""
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(
                    max_retries=1,
                    interval_start=0,
                    timeout=BROKER_CONNECT_TIMEOUT_SECONDS,
                )
        except Exception as exc:
            return exc
        return None

    def _record(self, error: Exception | None) -> None:
        """Store the outcome of a connection or publish; log changes only."""
        if error is None:
            state = RunnerState("celery", OK, checked_at=time.time())
        else:
            detail = (
                f"the broker {self.broker} is unreachable ({error}), so jobs "
                "cannot be submitted; check RNN_FORECAST_BROKER_URL and the broker"
            )
            state = RunnerState("celery", UNAVAILABLE, detail, time.time())
        if state.status != self._state.status:
            if error is None:
                logger.info("the broker %s is reachable", self.broker)
            else:
                logger.warning("the broker %s is unreachable: %s", self.broker, error)
        self._state = state

    def _sweep_loop(self) -> None:
        while not self._stopping.wait(self.settings.job_heartbeat_seconds):
            try:
                fail_stale_jobs(
                    self.store,
                    self.settings.job_heartbeat_timeout,
                    Registry(self.settings.registry),
                )
            except Exception:
                logger.exception("heartbeat sweep of the job store failed")
