"""The command line's ``--data`` option and the options of its sources.

``--start`` and ``--end`` set the range of a yfinance download, ``--length``
the length of a synthetic series, and ``--column`` the price column of every
source but the synthetic ones, which have one value per day. An option that
the chosen source does not read is an error, never silently ignored.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from models.cli_integers import integer
from models.generator_fields import FIELDS_USED
from models.option_errors import validate_options
from models.spec import (
    BundledData,
    CsvData,
    DataSpec,
    SyntheticData,
    YFinanceData,
)
from models.tickers import TICKER_PATTERN, TICKER_RULE


def data_help(yfinance_range: str) -> str:
    """Return the help text of ``--data``. ``yfinance_range`` describes the
    dates that a ``yfinance:`` download covers for the command."""
    return (
        "data source: 'bundled' (NFLX daily, offline default), 'csv:PATH' "
        f"(Yahoo or date,value CSV), 'yfinance:TICKER' ({yfinance_range}) or "
        "'synthetic:GENERATOR' (sine, noisy_sine, trend_seasonal, ar1, "
        "random_walk, mackey_glass)"
    )


DATA_HELP = data_help("a live download")
# train sets the download range with its own options
TRAIN_DATA_HELP = data_help("dates set by --start and --end")
# backtest and tune build --data without a range, because backtest's --start
# and --end are origin dates
SPEC_DATA_HELP = data_help("the whole history")

# the form of --data that each source takes
SOURCE_FORMS = {
    "bundled": "bundled",
    "csv": "csv:PATH",
    "yfinance": "yfinance:TICKER",
    "synthetic": "synthetic:GENERATOR",
}
# the data spec field that the text after the colon of --data sets, by source
DATA_VALUE_FIELDS = {"csv": "path", "yfinance": "ticker", "synthetic": "generator"}
# options that one source alone reads: option -> source
ONE_SOURCE_OPTIONS = {"start": "yfinance", "end": "yfinance", "length": "synthetic"}
# the sources of one value per day, which have no price column to pick
NO_COLUMN_SOURCES = ("synthetic",)
# the options that set data spec fields, by field. A check of the whole data
# spec looks its fields up by their path in the training spec, data.FIELD.
SOURCE_OPTIONS = {
    "column": "--column",
    "length": "--length",
    "start": "--start",
    "end": "--end",
    "data.start": "--start",
    "data.end": "--end",
}


def add_source_options(command: argparse.ArgumentParser) -> None:
    """Add ``--column`` and ``--length``. They default to None, so that
    ``check_source_options`` can tell whether they were given."""
    command.add_argument(
        "--column", default=None, help="price column to model (default close)"
    )
    command.add_argument(
        "--length",
        type=integer,
        default=None,
        help="synthetic series length in steps (default 2000)",
    )


def source_options(args: argparse.Namespace) -> dict[str, Any]:
    """Return the source options given on the command line: ``start``,
    ``end``, ``length`` and ``column``, each when it is not None."""
    names = (*ONE_SOURCE_OPTIONS, "column")
    values = {name: getattr(args, name, None) for name in names}
    return {name: value for name, value in values.items() if value is not None}


def check_source_options(source: str, options: dict[str, Any], origin: str) -> None:
    """Raise ``ValueError`` naming the first option in ``options`` that the
    data source ``source`` does not read. ``origin`` names the data in the
    message, such as ``--data bundled``."""
    for option in options:
        needed = ONE_SOURCE_OPTIONS.get(option)
        if needed is not None and source != needed:
            form = SOURCE_FORMS[needed]
            raise ValueError(
                f"--{option} applies only to --data {form}, but the data is "
                f"{origin}; remove --{option}, or use {form} data"
            )
        if option == "column" and source in NO_COLUMN_SOURCES:
            raise ValueError(
                f"--column picks a price column, but the data is {origin}, a "
                "synthetic series with one value per day; remove --column"
            )


def data_spec(args: argparse.Namespace, seed_name: str = "--seed") -> DataSpec:
    """Turn ``--data`` and the source options into a data spec; raise
    ``ValueError`` for an invalid ``--data``, an option that its source
    does not read, or an invalid value.

    ``seed_name`` names the seed of a random generator in messages: the
    option, or the spec field when a spec file set it.
    """
    kind, _, rest = args.data.partition(":")
    if kind not in SOURCE_FORMS or (kind != "bundled" and not rest):
        raise ValueError(f"--data {args.data!r} is invalid; expected {DATA_HELP}")
    options = source_options(args)
    check_source_options(kind, options, f"--data {args.data}")

    column = options.get("column", "close")
    if kind == "bundled":
        return validate_options(BundledData, {"column": column}, SOURCE_OPTIONS)

    # an error in the text after the colon names --data as it was given
    names = {**SOURCE_OPTIONS, DATA_VALUE_FIELDS[kind]: f"--data {args.data}"}
    fields: dict[str, Any]
    if kind == "csv":
        fields = {"path": rest, "column": column}
        return validate_options(CsvData, fields, names)
    if kind == "yfinance":
        check_ticker(args.data, rest)
        fields = {"ticker": rest, "start": args.start, "end": args.end}
        fields["column"] = column
        return validate_options(YFinanceData, fields, names)
    # a synthetic spec gets --seed only when its generator draws random
    # numbers, because the other generators reject a seed
    fields = {"generator": rest}
    if args.length is not None:
        fields["length"] = args.length
    if "seed" in FIELDS_USED.get(rest, ()):
        fields["seed"] = args.seed
    return validate_options(SyntheticData, fields, {**names, "seed": seed_name})


def check_ticker(data: str, ticker: str) -> None:
    """Raise ``ValueError`` naming ``--data`` (given as ``data``) when
    ``ticker`` does not match ``TICKER_PATTERN``, before any download."""
    if re.fullmatch(TICKER_PATTERN, ticker) is None:
        raise ValueError(
            f"--data {data}: the ticker {ticker!r} is invalid. Give --data "
            f"yfinance:TICKER with a ticker of {TICKER_RULE}, such as "
            "yfinance:NFLX"
        )


def with_source_options(
    fields: dict[str, Any], args: argparse.Namespace, origin: str
) -> dict[str, Any]:
    """Return the spec ``fields`` of a spec file or a stored version with
    the source options of ``args`` set on its ``data``.

    ``origin`` names that spec in messages, such as ``the spec file
    spec.json``. A spec without ``data`` has the bundled series. A ``data``
    that is not a JSON object is left for the spec's validation to report.
    Raises ``ValueError`` for an option that the source does not read.
    """
    options = source_options(args)
    data = fields.get("data", {"source": "bundled"})
    if not options or not isinstance(data, dict):
        return fields
    source = data.get("source")
    check_source_options(str(source), options, f"data.source {source!r} of {origin}")
    return {**fields, "data": {**data, **options}}


def source_option_names(
    fields: dict[str, Any], args: argparse.Namespace
) -> dict[str, str]:
    """Return the option of each source option in ``args`` by the path of
    the data spec field that it sets in ``fields``, such as
    ``data.bundled.column`` for ``--column``, for validation messages."""
    data = fields.get("data")
    if not isinstance(data, dict):
        return {}
    source = data.get("source")
    return {f"data.{source}.{name}": f"--{name}" for name in source_options(args)}
