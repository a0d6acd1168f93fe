"""Subcommand ``forecast`` of rnn-forecast: a forecast of a stored version,
printed as a table, or with ``--json`` as the JSON body that
``POST /v1/models/{name}/forecast`` returns.

It runs the service's checks and forward pass from ``models.forecasting``
without a server. Each invalid option ends the command with one ``error:``
line that names the option.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from models.cli_inputs import input_path, read_json_file, split_version_ref
from models.cli_integers import integer
from models.errors import InvalidInputError
from models.forecasting import Forecast, build_input, run_batch
from models.history_prices import RowPrices, check_row_prices
from models.plurals import plural
from models.quoted_ids import quoted
from models.registry import Registry

# the header of a history CSV file
CSV_COLUMNS = ["date", "value"]


def register(commands: Any) -> None:
    """Add the ``forecast`` subcommand to the ``rnn-forecast`` parser."""
    forecast = commands.add_parser(
        "forecast",
        help="forecast with a stored version and print a table or the HTTP API's JSON",
    )
    forecast.set_defaults(handler=cmd_forecast)
    forecast.add_argument(
        "ref", help="NAME or NAME:VERSION (a version number or an alias)"
    )
    forecast.add_argument(
        "--horizon",
        type=integer,
        default=None,
        help="steps to forecast, 1 up to the model's horizon (default: all)",
    )
    forecast.add_argument(
        "--level",
        type=float,
        default=None,
        help="prediction interval level in (0, 1), such as 0.9 (default: none)",
    )
    forecast.add_argument(
        "--history",
        type=input_path,
        default=None,
        help="history file: a CSV with the header date,value, or a JSON array "
        'of {"date": "YYYY-MM-DD", "close": N} rows as in the HTTP '
        "body's history (default: the tail of the version's training data)",
    )
    forecast.add_argument(
        "--json",
        action="store_true",
        help="print the JSON body of POST /v1/models/{name}/forecast instead "
        "of a table",
    )


def cmd_forecast(args: argparse.Namespace, registry: Registry) -> int:
    import torch

    from models.nn import infer_kernel

    name, ref = split_version_ref("forecast", args.ref)
    check_level(args.level)
    dates = closes = None
    if args.history is not None:
        dates, closes = read_history(args.history)

    version = registry.resolve(name, ref)
    loaded = registry.load(name, version)
    # one intra-op thread, as the service's default RNN_FORECAST_TORCH_THREADS,
    # and the compiled kernel where the server has it, so that the forward
    # pass sums in the same order as the server's
    torch.set_num_threads(1)
    infer_kernel.load()
    horizon = args.horizon if args.horizon is not None else loaded.horizon
    try:
        item = build_input(loaded, horizon, dates, closes, level=args.level)
        [result] = run_batch(loaded, [item])
    except InvalidInputError as exc:
        raise ValueError(f"{option_of(exc.field, args.history)}: {exc}") from None

    source = "model" if dates is None else "request"
    last_date = item.last_date.isoformat()
    body = forecast_body(name, version, last_date, source, result, args.level)
    if args.json:
        print(json.dumps(body, separators=(",", ":")))
    else:
        print_forecast(body)
    # stderr in both modes, so stdout keeps only the table or the JSON body,
    # whose "warnings" list them too
    for warning in result.warnings:
        print(
            f"warning: {option_of(warning.field, args.history)}: {warning.message}",
            file=sys.stderr,
        )
    return 0


def print_forecast(body: dict[str, Any]) -> None:
    """Print a forecast ``body`` as a header line and one row per step."""
    from models.cli_evaluation import fixed

    level = body["level"]
    interval = "no interval" if level is None else f"{level:g} prediction interval"
    print(
        f"{body['model']}:{body['version']}, {plural(body['horizon'], 'step')} after "
        f"{body['last_history_date']} (history from the {body['history_source']}), "
        f"{interval}"
    )
    print(f"{'date':<12}{'value':>14}{'lower':>14}{'upper':>14}")
    for point in body["forecast"]:
        print(
            f"{point['date']:<12}{fixed(point['value'], 14, 4)}"
            f"{fixed(point['lower'], 14, 4)}{fixed(point['upper'], 14, 4)}"
        )


def check_level(level: float | None) -> None:
    """Raise ``ValueError`` naming ``--level`` unless it lies in (0, 1)."""
    if level is not None and not 0 < level < 1:
        raise ValueError(
            f"--level {level:g} is outside (0, 1); give a level such as 0.9"
        )


def option_of(field: str | None, history: Path | None) -> str:
    """Name the option behind the request field ``field`` of a forecast
    error, such as ``--history FILE (history[3].close)``."""
    if field is not None and field.startswith("history"):
        if history is None:
            return "--history"
        if field == "history":
            return f"--history {history}"
        return f"--history {history} ({row_field(field, history)})"
    if field in ("horizon", "level"):
        return f"--{field}"
    return "forecast"


def read_history(path: Path) -> tuple[list[str], list[float]]:
    """Read the dates and closes of a ``--history`` file: JSON when its name
    ends in ``.json``, CSV otherwise.

    Raises ``ValueError`` naming ``--history``, the file and the row.
    """
    if path.suffix.lower() == ".json":
        rows = read_json_file("--history", path, list, "history rows")
    else:
        rows = read_csv_rows(path)
    return checked_rows(path, rows)


def read_csv_rows(path: Path) -> list[dict[str, Any]]:
    """Read a ``date,value`` CSV file as history rows with a float close."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            lines = read_csv_lines(path, reader)
    except OSError as exc:
        raise ValueError(
            f"--history {path}: cannot read the file ({exc.strerror or exc}); "
            "check the path"
        ) from None
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"--history {path}: the file is not UTF-8 text (invalid byte at "
            f"offset {exc.start}); save it as UTF-8 CSV"
        ) from None

    if not lines:
        raise ValueError(
            f"--history {path}: the file is empty; a history CSV starts with the "
            "header date,value"
        )
    if [cell.strip().lower() for cell in lines[0]] != CSV_COLUMNS:
        raise ValueError(
            f"--history {path}: the header is {quoted(','.join(lines[0]))}; a "
            "history CSV has the header date,value"
        )
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if len(line) != 2:
            raise ValueError(
                f"--history {path}: line {number} has {len(line)} fields; write "
                "two, date,value"
            )
        rows.append({"date": line[0].strip(), "close": csv_number(path, number, line)})
    return rows


def read_csv_lines(path: Path, reader: Any) -> list[list[str]]:
    """Read every row of ``reader`` (a ``csv.reader``); raise ``ValueError``
    naming the line when the csv module cannot read one."""
    try:
        return list(reader)
    except csv.Error as exc:
        raise ValueError(
            f"--history {path}: line {reader.line_num} is not valid CSV ({exc}); "
            "close every quoted field and keep each field under "
            f"{csv.field_size_limit()} characters"
        ) from None


def csv_number(path: Path, number: int, line: list[str]) -> float:
    """Parse the value of CSV line ``number``; raise ``ValueError`` naming
    the line when it is not a finite number."""
    try:
        value = float(line[1])
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(
            f"--history {path}: line {number} has the value {line[1]!r}; write "
            "a finite number"
        )
    return value


def checked_rows(path: Path, rows: list[Any]) -> tuple[list[str], list[float]]:
    """Check history ``rows`` with the HTTP body's row schema and return
    their dates and closes. An invalid row gets the HTTP error message."""
    from pydantic import TypeAdapter, ValidationError

    from service.field_errors import field_message
    from service.missing_fields import missing_field_fix
    from service.schemas import HistoryRow, HistoryRowFields

    if not rows:
        raise ValueError(f"--history {path}: the file has no rows; send at least one")
    try:
        valid = TypeAdapter(list[HistoryRowFields]).validate_python(rows)
    except ValidationError as exc:
        err = exc.errors()[0]
        location = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in err["loc"]
        )
        field = row_field(f"history{location}", path)
        message = field_message(err)
        if err["type"] == "missing":
            fix = missing_field_fix({(): list[HistoryRow]}, err["loc"], field)
            if fix is not None:
                message = f"{message}; {fix.replace('send ', 'add ', 1)}"
        raise ValueError(f"--history {path}: {field}: {message}") from None
    try:
        check_row_prices(
            (index, RowPrices.of_fields(row)) for index, row in enumerate(valid)
        )
    except InvalidInputError as exc:
        raise ValueError(f"--history {path}: {exc}") from None
    return [row["date"].isoformat() for row in valid], [row["close"] for row in valid]


def row_field(field: str, path: Path) -> str:
    """Return the history field ``field``, such as ``history[3].close``,
    with the line of the row when ``path`` is a CSV file, whose header is
    line 1."""
    index = re.match(r"history\[(\d+)\]", field)
    if index is None or path.suffix.lower() == ".json":
        return field
    return f"{field}, line {int(index.group(1)) + 2}"


def forecast_body(
    name: str,
    version: int,
    last_date: str,
    source: str,
    result: Forecast,
    level: float | None,
) -> dict[str, Any]:
    """Return the ``ForecastResponse`` fields of ``result``, in the order
    that the HTTP API writes them."""
    steps = len(result.values)
    lower = result.lower if result.lower is not None else [None] * steps
    upper = result.upper if result.upper is not None else [None] * steps
    points = [
        {"date": day, "value": value, "lower": low, "upper": high}
        for day, value, low, high in zip(
            result.dates, result.values, lower, upper, strict=True
        )
    ]
    return {
        "model": name,
        "version": version,
        "horizon": steps,
        "last_history_date": last_date,
        "history_source": source,
        "forecast": points,
        "level": level,
        "warnings": [
            {"field": warning.field, "type": warning.type, "message": warning.message}
            for warning in result.warnings
        ],
    }
