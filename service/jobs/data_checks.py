"""Checks of a job's series at submission, so that a job that would fail on
its data gets a 422 instead of being queued.

The series of the bundled, synthetic and uploaded sources are on this host.
Loading one takes milliseconds, and about 0.4 s for an upload of 200,000
rows (measured with ``parse_csv_bytes`` on one CPU core). A yfinance series
would need a download, so its checks run only when the job loads it. The job
runs every check again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from models.errors import InvalidInputError, RnnForecastError
from models.series_checks import check_search_series, check_target_values
from models.spec import BundledData, SyntheticData, TrainingSpec, UploadedData
from models.training import check_trainable
from service.series_store import series_dir
from service.settings import Settings

if TYPE_CHECKING:
    from models.backtest import BacktestSpec
    from models.data.series import Series
    from models.spec import DataSpec
    from models.tuning import TuningSpec


@contextlib.contextmanager
def fields_under(path: str) -> Iterator[None]:
    """Put ``path``, such as ``"base."``, before the field of a domain error
    raised inside."""
    try:
        yield
    except RnnForecastError as exc:
        if not path:
            raise
        field = f"{path}{exc.field}" if exc.field else path.rstrip(".")
        raise exc.with_field(field) from exc


def local_series(data: DataSpec, settings: Settings) -> Series | None:
    """Load the series of ``data`` when it is on this host, else return None.

    Raises the errors of ``load_series``, such as a ``DataError`` for a
    column that an uploaded file does not have.
    """
    if not isinstance(data, BundledData | SyntheticData | UploadedData):
        return None

    # the data modules import pandas, which the server loads only when needed
    from models.data.sources import load_series

    return load_series(
        data, upload_dir=series_dir(settings), root_path=settings.root_path
    )


def check_training_data(
    spec: TrainingSpec, settings: Settings, *, path: str = ""
) -> None:
    """Reject a spec whose series on this host cannot train it: a log-return
    target on values <= 0, or a series too short for the lookback, horizon
    and split.

    ``path`` goes before every field name in the errors.
    """
    with fields_under(path):
        series = local_series(spec.data, settings)
    if series is None:
        return

    check_target_values(spec, series, field=f"{path}target")
    with fields_under(path):
        check_trainable(spec, series)


def check_search_data(params: TuningSpec, settings: Settings) -> None:
    """Reject a tuning job whose series on this host cannot train every trial
    (``check_search_series``)."""
    with fields_under("base."):
        series = local_series(params.base.data, settings)
    if series is not None:
        check_search_series(params, series)


def check_backtest_data(
    params: BacktestSpec, settings: Settings, *, max_fits: int
) -> None:
    """Reject a backtest whose series on this host has no origin in the date
    range, needs more than ``max_fits`` fits, or cannot train its first fold.

    Errors name the fields inside the backtest's params, such as ``start``
    or ``training.target``.
    """
    with fields_under("training."):
        series = local_series(params.training.data, settings)
    if series is None:
        return

    # models.backtest imports pandas, which the server loads only when needed
    from models.backtest import check_backtest

    _check_range(params, series)
    check_backtest(params, series, max_fits)


def _check_range(params: BacktestSpec, series: Series) -> None:
    """Reject a start after the series' last date or an end before its first
    date, with the dates to choose from."""
    first, last = series.start, series.end
    if params.start is not None and params.start > last:
        raise InvalidInputError(
            f"start {params.start} is after the series ends on {last}; choose a "
            f"start between {first} and {last}",
            field="start",
        )
    if params.end is not None and params.end < first:
        raise InvalidInputError(
            f"end {params.end} is before the series starts on {first}; choose an "
            f"end between {first} and {last}",
            field="end",
        )
