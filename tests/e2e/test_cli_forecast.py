"""``rnn-forecast forecast`` prints a table, or with ``--json`` the bytes
that the HTTP API returns for the same version and input, and names the
option of each invalid input."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from models.registry import Registry
from tests.conftest import ROOT, LiveServer
from tests.e2e.test_cli import run_cli

BUNDLED_CSV = ROOT / "models" / "data" / "bundled" / "NFLX.csv"
# lookback 20 of the tiny spec, plus one close for the first log return
HISTORY_ROWS = 21


def bundled_tail(rows: int) -> list[dict[str, Any]]:
    """The last ``rows`` rows of the bundled NFLX file as history rows."""
    with open(BUNDLED_CSV, newline="") as file:
        table = list(csv.DictReader(file))[-rows:]
    return [{"date": row["Date"], "close": float(row["Close"])} for row in table]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    lines = ["date,value"] + [f"{row['date']},{row['close']!r}" for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def http_forecast(server: LiveServer, name: str, body: dict[str, Any]) -> str:
    response = server.client.post(f"/v1/models/{name}/forecast", json=body)
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.parametrize(
    ("ref", "options", "body"),
    [
        ("nflx", [], {}),
        ("nflx:1", ["--horizon", "3"], {"version": 1, "horizon": 3}),
        ("nflx:latest", ["--level", "0.9"], {"version": "latest", "level": 0.9}),
        ("sine", ["--horizon", "2"], {"horizon": 2}),
    ],
)
def test_forecast_equals_http_answer(
    live_server: LiveServer,
    trained_registry: Registry,
    ref: str,
    options: list[str],
    body: dict[str, Any],
) -> None:
    result = run_cli(trained_registry.root, "forecast", ref, "--json", *options)

    assert result.returncode == 0, result.stderr
    name = ref.partition(":")[0]
    assert result.stdout == http_forecast(live_server, name, body) + "\n"


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_forecast_history_equals_http_answer(
    live_server: LiveServer, trained_registry: Registry, tmp_path: Path, kind: str
) -> None:
    rows = bundled_tail(HISTORY_ROWS)
    path = tmp_path / f"history.{kind}"
    if kind == "csv":
        write_csv(path, rows)
    else:
        path.write_text(json.dumps(rows))

    result = run_cli(
        trained_registry.root,
        "forecast",
        "nflx",
        "--json",
        "--level",
        "0.8",
        "--history",
        path,
    )

    assert result.returncode == 0, result.stderr
    expected = http_forecast(live_server, "nflx", {"level": 0.8, "history": rows})
    assert result.stdout == expected + "\n"
    assert json.loads(result.stdout)["history_source"] == "request"


@pytest.mark.parametrize("level", [None, 0.9])
def test_forecast_table_matches_http(
    live_server: LiveServer, trained_registry: Registry, level: float | None
) -> None:
    options = [] if level is None else ["--level", str(level)]
    body = {"horizon": 3} if level is None else {"horizon": 3, "level": level}

    result = run_cli(
        trained_registry.root, "forecast", "nflx:1", "--horizon", "3", *options
    )

    assert result.returncode == 0, result.stderr
    answer = json.loads(http_forecast(live_server, "nflx", body))
    lines = result.stdout.splitlines()
    assert len(lines) == 2 + 3
    assert lines[0].startswith(
        f"nflx:1, 3 steps after {answer['last_history_date']} (history from the "
        "model), "
    )
    assert lines[1].split() == ["date", "value", "lower", "upper"]
    for line, point in zip(lines[2:], answer["forecast"], strict=True):
        cells = line.split()
        assert cells[0] == point["date"]
        assert float(cells[1]) == pytest.approx(point["value"], abs=5e-5)
        if level is None:
            assert cells[2:] == ["-", "-"]
        else:
            assert float(cells[2]) == pytest.approx(point["lower"], abs=5e-5)
            assert float(cells[3]) == pytest.approx(point["upper"], abs=5e-5)


@pytest.mark.parametrize("json_output", [False, True])
def test_forecast_warns_far_history(
    live_server: LiveServer,
    trained_registry: Registry,
    tmp_path: Path,
    json_output: bool,
) -> None:
    """A history far above the sine version's training range gets the
    forecast, the warning of the HTTP response and one ``warning:`` line."""
    loaded = trained_registry.load("sine", 1)
    rows = [
        {"date": date, "close": 1e6 + index}
        for index, date in enumerate(loaded.tail_dates)
    ]
    path = write_csv(tmp_path / "far.csv", rows)
    options = ["--json"] if json_output else []

    result = run_cli(
        trained_registry.root, "forecast", "sine", *options, "--history", path
    )

    assert result.returncode == 0, result.stderr
    answer = json.loads(http_forecast(live_server, "sine", {"history": rows}))
    [warning] = answer["warnings"]
    assert result.stderr == f"warning: --history {path}: {warning['message']}\n"
    if json_output:
        assert json.loads(result.stdout) == answer
    else:
        assert len(result.stdout.splitlines()) == 2 + loaded.horizon


def bad_history(tmp_path: Path, text: str, suffix: str = ".csv") -> str:
    path = tmp_path / f"history{suffix}"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--horizon", "0"], "error: --horizon: horizon=0 is out of range"),
        (["--horizon", "6"], "error: --horizon: horizon=6 is out of range"),
        (["--level", "1.5"], "error: --level 1.5 is outside (0, 1)"),
        (["--level", "0.999"], "error: --level: "),
        (["--history", "missing.csv"], "error: --history missing.csv: cannot read"),
    ],
)
def test_forecast_names_bad_option(
    trained_registry: Registry, options: list[str], expected: str
) -> None:
    result = run_cli(trained_registry.root, "forecast", "nflx", *options)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(expected), result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "suffix", "expected"),
    [
        ("day,close\n2020-12-10,500\n", ".csv", "the header is 'day,close'"),
        (
            "",
            ".csv",
            ".csv: the file is empty; a history CSV starts with the header date,value",
        ),
        ("date,value\n2020-12-10,abc\n", ".csv", "line 2 has the value 'abc'"),
        ("date,value\n20201210,500\n", ".csv", "history[0].date, line 2: "),
        ("date,value\n2020-12-10,500\n", ".csv", ".csv: history has 1 row but"),
        ("a" * 140_000 + "\n", ".csv", "line 1 is not valid CSV (field larger"),
        (
            'date,value\n2020-12-10,"' + "9" * 140_000 + '"\n',
            ".csv",
            "line 2 is not valid CSV (field larger than field limit (131072)); "
            "close every quoted field",
        ),
        (
            '[{"date": "2020-12-10"}]',
            ".json",
            "history[0].close: Field required; add history[0].close, a number "
            "such as 501.09",
        ),
        (
            '[{"date": "2020-12-10", "close": 500}, {"close": 501}]',
            ".json",
            "history[1].date: Field required; add history[1].date, a date written "
            'as YYYY-MM-DD such as "2020-12-10"',
        ),
        ('{"history": []}', ".json", "expected a JSON array of history rows"),
        (
            '[{"date": "2020-12-10", "close": "500"}]',
            ".json",
            "history[0].close: Input should be a number, not a string; send a "
            "JSON number without quotes, such as 1.5",
        ),
        (
            '[{"date": "2020-12-10", "close": NaN}]',
            ".json",
            "history[0].close: Input should be a finite number, but the value "
            "sent is NaN, which is not a number that JSON allows; send a finite "
            "number",
        ),
        (
            '[{"date": "2020-12-10", "close": 500, "volume": -1}]',
            ".json",
            "history[0].volume: Input should be greater than or equal to 0; send "
            "a value of at least 0",
        ),
        (
            '[{"date": "2020-12-10", "close": 500, "low": 490, "high": 510}, '
            '{"date": "2020-12-11", "close": 501, "low": 505, "high": 510}]',
            ".json",
            ": history[1].close 501.0 is below history[1].low 505.0; send a low "
            "at or below the high and an open and close between them, or leave "
            "open, high and low out, because the forecast reads only the close",
        ),
    ],
)
def test_forecast_names_bad_history(
    trained_registry: Registry, tmp_path: Path, text: str, suffix: str, expected: str
) -> None:
    path = bad_history(tmp_path, text, suffix)

    result = run_cli(trained_registry.root, "forecast", "nflx", "--history", path)

    assert result.returncode == 2
    assert result.stderr.startswith(f"error: --history {path}"), result.stderr
    assert expected in result.stderr
    assert len(result.stderr.splitlines()) == 1
