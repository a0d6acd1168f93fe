"""Checks of a loaded series against a training spec or a search space,
run before any fit so that a spec the series cannot train fails at once
and leaves no version or study behind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models.data.series import Series
from models.errors import DataError, InvalidInputError
from models.plurals import plural
from models.spec import SyntheticData, TrainingSpec, UploadedData
from models.training import check_trainable

if TYPE_CHECKING:
    from models.tuning import TuningSpec


def check_search_series(params: TuningSpec, series: Series) -> None:
    """Reject a search whose ``series`` cannot train every trial.

    The base spec is checked with the lowest lookback of the search space,
    and then with the highest, so that an error names ``space.lookback``
    when only long lookbacks do not fit the series. Field names start with
    ``base.`` or ``space.``, as in the tuning spec.
    """
    base = params.base
    check_target_values(base, series, field="base.target")
    low, high = params.space.lookback
    try:
        check_trainable(base.model_copy(update={"lookback": low}), series)
    except DataError as exc:
        field = f"base.{exc.field}" if exc.field else "base"
        raise DataError(exc.message, field=field) from exc
    try:
        check_trainable(base.model_copy(update={"lookback": high}), series)
    except DataError as exc:
        raise DataError(
            f"{exc.message} (lookback={high} is the upper end of space.lookback, "
            "which a trial can sample; lower it)",
            field="space.lookback",
        ) from exc


def check_target_values(spec: TrainingSpec, series: Series, *, field: str) -> None:
    """Reject a log-return target on a series with values <= 0, naming the
    series and the fix for its source."""
    if spec.target != "log_return":
        return

    values = series.frame["close"].to_numpy()
    count = int((values <= 0).sum())
    if count == 0:
        return

    data = spec.data
    fix = "use target price"
    if isinstance(data, SyntheticData):
        label = f"the synthetic {data.generator} series"
        fix += " or raise data.level"
    elif isinstance(data, UploadedData):
        label = f"the uploaded series {data.series_id}"
        fix += " or upload a series of positive values"
    else:
        label = "the series"
    raise InvalidInputError(
        f"target log_return needs positive values, but {label} has "
        f"{plural(count, 'value')} <= 0; {fix}",
        field=field,
    )
