"""Uploaded series that jobs refer to: an upload cannot be deleted while a
queued or running job names it.

A submission checks its uploads and inserts its job under the store's
submission lock, and a delete looks up the jobs and removes the files under
the same lock. Either the delete finds the new job and returns 409, or the
submission finds the upload missing and returns 409, so never both succeed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from models.errors import ConflictError
from service.jobs.store import JobStore
from service.series_store import delete_series, read_series_info, series_exists
from service.settings import Settings

if TYPE_CHECKING:
    from service.upload_parsing import UploadParsing


class SeriesDeletedError(ConflictError):
    """An upload that a job names was deleted while the job was being
    submitted (HTTP 409). ``root_path`` is the service's root path
    (``RNN_FORECAST_ROOT_PATH``), which goes before the path that the
    message names."""

    def __init__(self, series_id: str, field: str, root_path: str) -> None:
        super().__init__(
            f"the series {series_id} in {field} was deleted while this job was "
            "being submitted; upload the series again with "
            f"POST {root_path}/v1/series and submit the job with the id that "
            "the upload returns",
            field=field,
        )
        self.series_id = series_id
        self.root_path = root_path


def uploads_in(params: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield (field, series id) for every upload that a job's ``params``
    name as data, at any depth. The field is the path of the id, such as
    ``data.series_id`` or ``training.data.series_id``."""
    if isinstance(params, dict):
        if params.get("source") == "upload" and isinstance(
            params.get("series_id"), str
        ):
            yield f"{path}series_id", params["series_id"]
        for key, value in params.items():
            yield from uploads_in(value, f"{path}{key}.")
    elif isinstance(params, list):
        for index, value in enumerate(params):
            yield from uploads_in(value, f"{path.rstrip('.')}[{index}].")


def require_uploads(settings: Settings, params: dict[str, Any]) -> None:
    """Raise ``SeriesDeletedError`` for the first upload in ``params`` that
    is no longer stored; the store's submission lock is held."""
    for field, series_id in uploads_in(params):
        if not series_exists(settings, series_id):
            raise SeriesDeletedError(series_id, field, settings.root_path)


def delete_unused_series(
    settings: Settings,
    store: JobStore,
    series_id: str,
    parsing: UploadParsing | None = None,
) -> dict[str, Any]:
    """Delete the upload ``series_id`` and return its description.

    Raises ``NotFoundError`` when there is no such upload, and
    ``ConflictError`` listing the jobs when a queued or running job names
    it. The check and the delete run under the store's submission lock. An
    upload that an earlier release stored is checked again on a place of
    ``parsing`` (``series_store.upload_problem``).
    """
    read_series_info(settings, series_id, parsing)
    with store.submission_lock() as conn:
        users = [
            job_id
            for job_id, params in store.unfinished_params(conn)
            if any(used == series_id for _, used in uploads_in(params))
        ]
        if users:
            raise ConflictError(
                f"series {series_id} is used by the unfinished job(s) "
                f"{', '.join(users)}; wait for them to finish or cancel them, "
                "then delete the series",
                field="series_id",
            )
        return delete_series(settings, series_id, parsing)
