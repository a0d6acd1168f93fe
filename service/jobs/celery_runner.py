"""The API side of the Celery runner: publish job ids to the broker."""

from __future__ import annotations

import logging
import threading

from kombu.utils.url import maybe_sanitize_url

from models.errors import SourceUnavailableError
from service.jobs.celery_app import RUN_JOB_TASK, make_celery
from service.jobs.recovery import fail_stale_jobs
from service.jobs.store import FAILED, QUEUED, Job, JobStore
from service.settings import Settings

logger = logging.getLogger(__name__)

PUBLISH_RETRY = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1.0,
}


class CeleryRunner:
    """Sends each queued job to Celery workers; a thread in the API fails
    jobs whose worker stopped heartbeating.

    Cancelling is cooperative: the worker reads the flag at its next
    ``should_stop`` check (before every training batch).
    """

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        self.celery = make_celery(settings.broker_url)
        self.broker = maybe_sanitize_url(settings.broker_url)
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._sweep_loop, name="job-heartbeat-sweep", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        # a broker restarted without persistence loses messages; publishing
        # every queued job again is safe because workers claim jobs atomically
        for job_id in self.store.ids_with_status(QUEUED):
            try:
                self._publish(job_id)
            except Exception as exc:
                logger.warning("could not publish queued job %s again: %s", job_id, exc)
        logger.info("Celery job runner started with broker %s", self.broker)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def submitted(self, job: Job) -> None:
        """Publish ``job``; when the broker is unreachable, fail it and raise
        ``SourceUnavailableError`` (HTTP 503)."""
        try:
            self._publish(job.id)
        except Exception as exc:
            logger.error("publishing job %s to %s failed: %s", job.id, self.broker, exc)
            error = f"the job queue at {self.broker} is unreachable"
            self.store.finish(job.id, FAILED, error=error, from_statuses=(QUEUED,))
            raise SourceUnavailableError(
                f"{error}, so job {job.id} failed; retry later", field="broker"
            ) from exc

    def cancel_requested(self, job: Job) -> None:
        """Nothing to do: the worker polls the store's cancel flag."""

    def _publish(self, job_id: str) -> None:
        self.celery.send_task(
            RUN_JOB_TASK, args=[job_id], retry=True, retry_policy=PUBLISH_RETRY
        )

    def _sweep_loop(self) -> None:
        while not self._stopping.wait(self.settings.job_heartbeat_seconds):
            try:
                fail_stale_jobs(self.store, self.settings.job_heartbeat_timeout)
            except Exception:
                logger.exception("heartbeat sweep of the job store failed")
