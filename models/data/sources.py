"""One entry point that loads the series a ``DataSpec`` describes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.data.bundled import load_bundled
from models.data.csv_source import load_csv, parse_csv_bytes
from models.data.series import Series
from models.data.synthetic import generate
from models.data.yahoo import load_yfinance
from models.errors import DataError, NotFoundError
from models.spec import (
    BundledData,
    CsvData,
    DataSpec,
    SyntheticData,
    UploadedData,
    YFinanceData,
)


def load_series(
    spec: DataSpec,
    *,
    cache_dir: Path | None = None,
    upload_dir: Path | None = None,
    root_path: str = "",
) -> Series:
    """Load and validate the series of ``spec``.

    ``cache_dir`` stores downloaded Yahoo Finance data (no caching when None)
    and ``upload_dir`` contains the series uploaded through the service, one
    ``<series_id>.csv`` file each. ``root_path`` is the service's root path
    (``RNN_FORECAST_ROOT_PATH``, such as ``/rnn``), which the errors of an
    upload and of Yahoo Finance bars put before the API paths they name.
    """
    if isinstance(spec, BundledData):
        return load_bundled(spec.column)
    if isinstance(spec, CsvData):
        return load_csv(spec.path, spec.column)
    if isinstance(spec, YFinanceData):
        return load_yfinance(
            spec.ticker,
            spec.start,
            spec.end,
            spec.column,
            cache_dir=cache_dir,
            root_path=root_path,
        )
    if isinstance(spec, SyntheticData):
        return generate(spec)
    if isinstance(spec, UploadedData):
        return load_upload(spec, upload_dir, root_path)
    raise TypeError(f"unknown data spec {type(spec).__name__}")


def load_upload(
    spec: UploadedData, upload_dir: Path | None, root_path: str = ""
) -> Series:
    """Load an uploaded series from ``upload_dir/<series_id>.csv``.

    Error messages name the series id and never the server's directory.
    Raises ``NotFoundError`` for an unknown id and ``DataError`` when no
    upload directory is configured, or when the file fails a check. An
    upload stored by an earlier release may fail a check that uploads got
    later: the NYSE session check or the row checks of dates and prices.
    Its error then ends with how to upload a corrected file
    (``UploadCheck.problem``), because the stored file cannot be edited.
    The API paths in these errors start with ``root_path``.

    A date followed by a time of day without a UTC offset, which earlier
    releases stored, is read at midnight of that date. Those releases read
    it so too, and the upload's description (``GET /v1/series/{id}``)
    lists the dropped times in ``cleaning``, as the loaded series does.
    """
    if upload_dir is None:
        raise DataError(
            f"series {spec.series_id} is an upload, but no upload directory is "
            "configured; load uploads through the service, or use --data csv:PATH",
            field="data.series_id",
        )

    path = Path(upload_dir) / f"{spec.series_id}.csv"
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"series {spec.series_id} not found; upload it with POST "
            f"{root_path}/v1/series and use the id that the upload returns",
            field="data.series_id",
        ) from exc

    try:
        return _parse_upload(raw, spec.series_id, spec.column)
    except DataError as exc:
        if not _passes_earlier_checks(raw, spec.series_id, spec.column):
            raise
        fixed = UploadCheck(exc.message, reupload=True)
        raise DataError(
            fixed.problem(spec.series_id, root_path), field=exc.field
        ) from exc


@dataclass(frozen=True)
class UploadCheck:
    """The outcome of the current checks on a stored upload.

    ``error`` is the message of the first check that the file fails, None
    when it passes them. ``reupload`` is True when the file passes the
    checks of the releases before the NYSE session check and the row checks
    of dates and prices. One of those releases stored it then, and the fix
    is to upload a corrected file.
    """

    error: str | None
    reupload: bool = False

    def problem(self, series_id: str, root_path: str = "") -> str | None:
        """Return the message that a job on the upload ``series_id`` gets
        (with the fix of an earlier release's upload, whose API paths start
        with ``root_path``), or None when the file passes."""
        if self.error is None or not self.reupload:
            return self.error
        return f"{self.error}. {_reupload_fix(series_id, root_path)}"


def check_upload(raw: bytes, series_id: str, column: str = "close") -> UploadCheck:
    """Check the stored file ``raw`` of the upload ``series_id`` as a job
    that trains on ``column`` parses it, and return the outcome. It costs
    what a job's parse of the file costs."""
    try:
        _parse_upload(raw, series_id, column)
    except DataError as exc:
        return UploadCheck(
            exc.message, reupload=_passes_earlier_checks(raw, series_id, column)
        )
    return UploadCheck(None)


def _parse_upload(raw: bytes, series_id: str, column: str) -> Series:
    """Parse the stored file ``raw`` of the upload ``series_id`` with the
    current checks, ``column`` as the close; raise ``DataError`` as is."""
    return parse_csv_bytes(
        raw,
        column=column,
        label=_upload_label(series_id),
        source=_upload_source(series_id, column),
        allow_time_of_day=True,
    )


def _upload_label(series_id: str) -> str:
    return f"uploaded series {series_id}"


def _upload_source(series_id: str, column: str) -> dict[str, Any]:
    return {"source": "upload", "series_id": series_id, "column": column}


def _passes_earlier_checks(raw: bytes, series_id: str, column: str) -> bool:
    """Return whether the stored file ``raw`` of the upload ``series_id``
    passes the checks of an upload without the NYSE session check
    (``sessions_only``) and the row checks of dates and prices
    (``strict_rows``), as releases before those checks stored it."""
    try:
        parse_csv_bytes(
            raw,
            column=column,
            label=_upload_label(series_id),
            source=_upload_source(series_id, column),
            sessions_only=False,
            strict_rows=False,
        )
    except DataError:
        return False
    return True


def _reupload_fix(series_id: str, root_path: str) -> str:
    """Return the fix for the stored upload ``series_id`` that an earlier
    release accepted and that a check now rejects, with API paths under
    ``root_path``."""
    series = f"{root_path}/v1/series"
    return (
        f"Series {series_id} was stored by an earlier release that did not "
        "run this check on uploads, and a stored upload cannot be edited. "
        f"Correct the file, upload it again with POST {series} and use the "
        f"id that the upload returns. DELETE {series}/{series_id} removes "
        "the old upload"
    )
