"""Uploaded series on disk: ``<data_dir>/series/<id>.csv`` and its
description in ``<id>.json``.

The CSV is stored byte for byte as uploaded and validated, so a training job
that refers to it by id parses exactly what the upload checked
(``models.data.sources.load_upload`` reads it). Both files are written under
temporary names and renamed, so a reader never sees half a file. The
description is renamed into place last and deleted first, so a series is
stored exactly while its description exists. A CSV without one is left by
an interrupted upload or delete. No reader lists or loads it, and
``service.series_orphans`` removes it when the API starts.

A description records the version of the checks that its CSV passed
(``checks``, see ``models.data.upload_checks``). The CSV of a description
without the current version is checked again the first time the upload is
described, and the outcome is stored in ``<id>.checked.json``, so that
later reads only read it. The description itself is never rewritten. In
the server, each such check takes a place of the upload parses
(``UploadParsing.checking``), so that neither a page of up to 1,000 such
uploads nor many requests for them run more checks and upload parses at
once than ``RNN_FORECAST_UPLOAD_WORKERS``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.cancellation import StopCheck, stop_if_requested
from models.data.upload_checks import CHECKS_VERSION
from models.errors import DataError, LimitExceededError, NotFoundError
from models.plurals import plural
from models.quoted_ids import quoted
from models.spec import MIN_HORIZON, MIN_LOOKBACK, TrainingSpec
from service.cursors import decode_cursor, encode_cursor, invalid_cursor
from service.filename_look_alikes import latin_look_alike
from service.settings import Settings

if TYPE_CHECKING:
    # the series module imports pandas, which start-up does not need
    from models.data.series import Series
    from models.data.sources import UploadCheck
    from service.upload_parsing import UploadParsing

logger = logging.getLogger(__name__)

SERIES_ID_PATTERN = r"^[a-f0-9]{32}$"
SERIES_ID_RE = re.compile(SERIES_ID_PATTERN)
UPLOAD_LABEL = "the uploaded CSV"
PARSE_NAME = "the parse of the uploaded CSV"
# the outcome of the current checks on a CSV stored with earlier checks
CHECKED_SUFFIX = ".checked.json"


def series_dir(settings: Settings) -> Path:
    """Return the folder of uploaded series."""
    return Path(settings.data_dir) / "series"


def series_path(settings: Settings, series_id: str) -> Path:
    """Return the CSV file of ``series_id``; a malformed id raises
    ``NotFoundError``, so that no id can name a file outside the folder."""
    if not SERIES_ID_RE.fullmatch(series_id):
        raise NotFoundError(
            f"series {quoted(series_id)} not found; series ids are 32 lowercase hex "
            f"characters as returned by POST {settings.root_path}/v1/series",
            field="series_id",
        )
    return series_dir(settings) / f"{series_id}.csv"


def save_series(
    raw: bytes,
    settings: Settings,
    should_stop: StopCheck | None = None,
    *,
    filename: str | None = None,
    field: str = "body",
) -> dict[str, Any]:
    """Validate ``raw`` as a Yahoo or ``date,value`` CSV, store it and return
    its description (id, rows, date range, format, cleaning steps).

    Raises ``DataError`` for invalid content, including a value in any
    column beyond the range that training can scale, and
    ``LimitExceededError`` above ``settings.max_series_rows`` rows; nothing
    is stored then. Both errors name ``field``, the request input that
    carried the CSV: ``body``, or the form field of a multipart upload.
    ``should_stop`` is checked between the steps of the parse and before
    the files are written; once it returns True the parse raises
    ``ComputationCancelled`` and nothing is stored.
    """
    # pandas parses the CSV, and importing it here keeps it out of start-up
    from models.data.csv_source import parse_csv_bytes

    series_id = uuid.uuid4().hex
    source = {"source": "upload", "series_id": series_id}
    # every column is checked now, because a job may train on any of them.
    # The parser names the training spec's field 'data', which an upload
    # request does not have.
    try:
        series = parse_csv_bytes(
            raw,
            column="close",
            label=UPLOAD_LABEL,
            source=source,
            check_all_columns=True,
            should_stop=should_stop,
        )
    except DataError as exc:
        exc.field = field
        raise
    check_upload_rows(len(series.frame), settings.max_series_rows, field)
    check_trainable_rows(len(series.frame), field)

    info = upload_description(series, series_id, len(raw), filename)
    stop_if_requested(should_stop, PARSE_NAME)
    folder = series_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / f"{series_id}.csv", raw)
    _write_atomic(folder / f"{series_id}.json", json.dumps(info, indent=2).encode())
    return described(settings, info)


def upload_description(
    series: Series, series_id: str, size: int, filename: str | None
) -> dict[str, Any]:
    """Return the description stored beside the upload ``series_id``: the
    id, rows, date range, format, columns and cleaning notes of the parsed
    ``series``, the upload's ``size`` in bytes, its ``filename`` and the
    time of upload. ``checks`` is the version of the checks that it
    passed."""
    return {
        "id": series_id,
        "rows": len(series.frame),
        "start": series.start.isoformat(),
        "end": series.end.isoformat(),
        "format": series.source["format"],
        "kind": series.kind,
        "columns": [str(name) for name in series.frame.columns],
        "cleaning": list(series.cleaning),
        "sha256": series.sha256,
        "bytes": size,
        "filename": filename,
        # microseconds, so that uploads in one second still list newest first
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "checks": CHECKS_VERSION,
    }


def check_upload_rows(rows: int, limit: int, field: str = "body") -> None:
    """Raise ``LimitExceededError`` on ``field``, the request input that
    carried the CSV, when an upload has more than ``limit`` rows (after
    cleaning)."""
    if rows > limit:
        raise LimitExceededError(
            f"{UPLOAD_LABEL} has {rows} rows, above the limit of {limit} rows "
            "(RNN_FORECAST_MAX_SERIES_ROWS); upload a series of at most "
            f"{limit} rows, or raise RNN_FORECAST_MAX_SERIES_ROWS",
            field=field,
        )


def check_trainable_rows(rows: int, field: str = "body") -> None:
    """Raise ``DataError`` on ``field`` when an upload has fewer rows (after
    cleaning) than the smallest training spec needs: lookback 2, horizon 1
    and target price, with one complete window for each of the training,
    validation and test parts (5 rows). A forecast needs fewer, lookback
    rows."""
    # the windows module imports torch, which start-up does not need
    from models.data.windows import fewest_rows, min_series_rows

    least = min_series_rows(MIN_LOOKBACK, MIN_HORIZON, "price")
    if rows >= least:
        return
    default = {
        name: TrainingSpec.model_fields[name].default
        for name in ("lookback", "horizon", "target", "val_fraction", "test_fraction")
    }
    raise DataError(
        f"{UPLOAD_LABEL} has {plural(rows, 'row')} after cleaning, fewer than "
        f"the {least} rows that the smallest training spec needs "
        f"(lookback={MIN_LOOKBACK}, horizon={MIN_HORIZON}, target price, and "
        f"one complete window each for training, validation and test); upload "
        f"at least {least} rows. A spec needs at least lookback + 3 x horizon "
        "rows, one more for target log_return, and the default spec "
        f"(lookback={default['lookback']}, horizon={default['horizon']}) needs "
        f"{fewest_rows(**default)} rows",
        field=field,
    )


def read_series_info(
    settings: Settings, series_id: str, parsing: UploadParsing | None = None
) -> dict[str, Any]:
    """Return the stored description of ``series_id``; raise
    ``NotFoundError`` when there is no such upload. ``parsing`` is as for
    ``upload_problem``."""
    path = series_path(settings, series_id).with_suffix(".json")
    try:
        return described(settings, json.loads(path.read_text()), parsing)
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"series {series_id} not found; upload it with "
            f"POST {settings.root_path}/v1/series",
            field="series_id",
        ) from exc


def described(
    settings: Settings, info: dict[str, Any], parsing: UploadParsing | None = None
) -> dict[str, Any]:
    """Return what clients see of the stored description ``info``: its
    fields without ``checks``, plus ``filename_looks_like``, the all-Latin
    name that its ``filename`` can pass for, or None, and ``usable`` and
    ``problem`` (``upload_problem``, which gets ``parsing``).

    They are derived when the description is read, so uploads stored before
    the fields existed get them too. Raises ``FileNotFoundError`` when the
    CSV of an upload stored with earlier checks is gone, as after a delete.
    """
    problem = upload_problem(settings, info, parsing)
    public = {key: value for key, value in info.items() if key != "checks"}
    return {
        **public,
        "filename_looks_like": latin_look_alike(info.get("filename")),
        "usable": problem is None,
        "problem": problem,
    }


def upload_problem(
    settings: Settings, info: dict[str, Any], parsing: UploadParsing | None = None
) -> str | None:
    """Return the error that a job training on the close of the upload
    ``info`` (its stored description) gets, or None when there is none.

    A file stored with the current checks passes them. One stored with
    earlier checks is checked once, and the outcome is stored beside it
    (``<id>.checked.json``). A job on it gets the same error, which ends
    with how to upload a corrected file. Raises ``FileNotFoundError`` when
    its CSV is gone.

    The check waits for a place of ``parsing``, the server's upload
    parses, and keeps it while it runs. Without ``parsing``, as outside the
    server, it runs at once.
    """
    if info.get("checks") == CHECKS_VERSION:
        return None
    series_id = info["id"]
    path = checked_path(settings, series_id)
    check = _stored_check(path)
    if check is None:
        check = _check_in_place(settings, series_id, parsing)
    return check.problem(series_id, settings.root_path)


def _check_in_place(
    settings: Settings, series_id: str, parsing: UploadParsing | None
) -> UploadCheck:
    """Check the CSV of ``series_id`` on a place of ``parsing`` and store the
    outcome. A request that waited for its place while another checked the
    same file reads the stored outcome instead."""
    place = parsing.checking() if parsing is not None else contextlib.nullcontext()
    path = checked_path(settings, series_id)
    with place:
        check = _stored_check(path)
        if check is None:
            check = _check_stored_file(settings, series_id)
            _store_check(path, check)
    return check


def checked_path(settings: Settings, series_id: str) -> Path:
    """Return the file of the outcome of the current checks on the CSV of
    ``series_id``, which is written when it was stored with earlier ones."""
    return series_dir(settings) / f"{series_id}{CHECKED_SUFFIX}"


def _check_stored_file(settings: Settings, series_id: str) -> UploadCheck:
    # the sources module imports pandas, which start-up does not need
    from models.data.sources import check_upload

    raw = series_path(settings, series_id).read_bytes()
    return check_upload(raw, series_id)


def _stored_check(path: Path) -> UploadCheck | None:
    """Return the outcome stored in ``path`` by ``_store_check``; None when
    there is none, or one of other checks, or the file cannot be read."""
    from models.data.sources import UploadCheck

    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("checks") != CHECKS_VERSION:
        return None
    error, reupload = stored.get("error"), stored.get("reupload")
    if not (error is None or isinstance(error, str)) or not isinstance(reupload, bool):
        return None
    return UploadCheck(error, reupload=reupload)


def _store_check(path: Path, check: UploadCheck) -> None:
    """Write ``check`` to ``path`` with the checks version. A folder that
    cannot be written gets a warning line, so the check runs again on the
    next read."""
    outcome = {
        "checks": CHECKS_VERSION,
        "error": check.error,
        "reupload": check.reupload,
    }
    try:
        _write_atomic(path, json.dumps(outcome, indent=2).encode())
    except OSError as exc:
        logger.warning(
            "failed to store the check of an upload in %s: %s",
            path,
            exc.strerror or exc,
        )


SeriesPosition = tuple[dt.datetime, str]


def list_series(
    settings: Settings,
    limit: int,
    before: SeriesPosition | None = None,
    parsing: UploadParsing | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Return the descriptions of at most ``limit`` uploads, newest first,
    and how many uploads there are.

    Uploads are ordered by upload time, then by id. With ``before``, the
    position of an upload, the list starts after that position. The uploads
    that earlier releases stored are checked one at a time, each on a place
    of ``parsing`` (``upload_problem``).
    """
    infos = []
    for path in series_dir(settings).glob("*.json"):
        # a file that no upload wrote, such as notes.json, is no series
        if not SERIES_ID_RE.fullmatch(path.stem):
            continue
        try:
            infos.append(json.loads(path.read_text()))
        except FileNotFoundError:
            continue  # deleted while listing
    infos.sort(key=series_position, reverse=True)
    if before is not None:
        infos_after = [info for info in infos if series_position(info) < before]
    else:
        infos_after = infos
    page = []
    for info in infos_after[:limit]:
        try:
            page.append(described(settings, info, parsing))
        except FileNotFoundError:
            continue  # deleted while listing
    return page, len(infos)


def series_position(info: dict[str, Any]) -> SeriesPosition:
    """Return the sort key of an upload's description: its upload time
    (``created_at``, in seconds or finer) and its id."""
    return dt.datetime.fromisoformat(info["created_at"]), info["id"]


def series_cursor(info: dict[str, Any]) -> str:
    """Build the cursor of the list page that starts after the upload
    ``info``."""
    return encode_cursor(info["created_at"], info["id"])


def cursor_position(cursor: str) -> SeriesPosition:
    """Return the position of an upload that ``cursor`` names; raise
    ``InvalidInputError`` on ``query.cursor`` when it is not in the form of
    ``series_cursor``.

    The upload need not exist any more, so paging goes on after a delete.
    """
    created_at, series_id = decode_cursor(cursor)
    try:
        moment = dt.datetime.fromisoformat(created_at)
    except ValueError as exc:
        raise invalid_cursor() from exc
    if moment.tzinfo is None:
        raise invalid_cursor()
    return moment, series_id


def delete_series(
    settings: Settings, series_id: str, parsing: UploadParsing | None = None
) -> dict[str, Any]:
    """Delete the upload ``series_id`` and return its description; raise
    ``NotFoundError`` when there is no such upload. ``parsing`` is as for
    ``upload_problem``.

    The description goes first, so a listing never shows an upload whose
    CSV is gone, and the outcome of its checks last.
    """
    info = read_series_info(settings, series_id, parsing)
    csv_path = series_path(settings, series_id)
    csv_path.with_suffix(".json").unlink(missing_ok=True)
    csv_path.unlink(missing_ok=True)
    checked_path(settings, series_id).unlink(missing_ok=True)
    return info


def series_exists(settings: Settings, series_id: str) -> bool:
    """Return whether ``series_id`` names a stored upload: one whose
    description exists, because the description is written after the CSV
    and deleted before it."""
    return series_path(settings, series_id).with_suffix(".json").is_file()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
