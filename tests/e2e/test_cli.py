"""The command line end to end: train, list, show, serve and forecast."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, LiveServer
from tests.models.data.test_data_yahoo import XETRA_CACHE_MESSAGE, write_xetra_cache
from tests.models.data.test_session_dates import WEEKEND_CSV, weekend_message

SMALL = [
    "--epochs", "2", "--hidden-size", "8", "--num-layers", "1",
    "--lookback", "20", "--batch-size", "256", "--quiet",
]  # fmt: skip


def run_cli(
    registry: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``rnn-forecast`` on ``registry``, with ``env`` added to the
    environment."""
    full_env = {**os.environ, "RNN_FORECAST_REGISTRY": str(registry), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "models.cli", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_train_list_show_serve(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    trained = run_cli(registry, "train", *SMALL)
    assert trained.returncode == 0, trained.stderr
    assert "data: bundled 2002-05-23..2020-12-11, 4673 rows" in trained.stdout
    assert "naive" in trained.stdout
    assert f"wrote nflx version 1 to {registry.resolve()}" in trained.stdout
    assert (registry / "nflx" / "versions" / "1" / "weights.safetensors").is_file()

    listed = run_cli(registry, "models", "list")
    assert listed.stdout.strip() == "nflx: versions [1]; aliases latest->1"

    shown = run_cli(registry, "models", "show", "nflx:1")
    assert "cell lstm, hidden 8, layers 1, lookback 20, horizon 10" in shown.stdout

    server = LiveServer(registry)
    try:
        response = server.client.post("/v1/models/nflx/forecast", json={"horizon": 10})
    finally:
        server.stop()
    assert response.status_code == 200
    forecast = response.json()["forecast"]
    assert len(forecast) == 10
    assert forecast[0]["date"] == "2020-12-14"
    assert forecast[-1]["date"] == "2020-12-28"


def test_train_from_csv_reports_cleaning(tmp_path: Path) -> None:
    source = (ROOT / "models" / "data" / "bundled" / "NFLX.csv").read_text()
    lines = source.splitlines()
    lines.insert(300, lines[300])  # one duplicated date
    csv = tmp_path / "prices.csv"
    csv.write_text("\n".join(lines[:1500]) + "\n")

    result = run_cli(
        tmp_path / "reg", "train", *SMALL, "--name", "mine", "--data", f"csv:{csv}"
    )
    assert result.returncode == 0, result.stderr
    assert "cleaning:" in result.stdout
    assert "duplicate" in result.stdout


def test_train_from_csv_off_sessions_exits_2(tmp_path: Path) -> None:
    csv = tmp_path / "weekend.csv"
    csv.write_bytes(WEEKEND_CSV)

    result = run_cli(
        tmp_path / "reg", "train", *SMALL, "--name", "mine", "--data", f"csv:{csv}"
    )

    assert result.returncode == 2
    assert result.stderr == f"error: {weekend_message(str(csv))}\n"
    assert not (tmp_path / "reg" / "mine").exists()


YAHOO_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 140_000 + "\n", "which is not valid CSV (field larger than field"),
        (
            'date,value\n2020-12-07,1\n2020-12-08,"' + "9" * 140_000 + '"\n',
            ": data row 2 (ending on line 3) is not valid CSV (field larger",
        ),
        (
            YAHOO_HEADER
            + "2020-12-07,500,505,495,505,505,1000\n"
            + "2020-12-08,505,,500,530,530,1000\n",
            ": data row 2 (2020-12-08, row 1 is the first row after the header) "
            "has close 530, which is outside low..high (low 500, high 505; high "
            "forward-filled from the previous row)",
        ),
        ("date,value\n2020-12-07,1\n2020-12-08\n", " has 1 field in data row 2"),
    ],
)
def test_train_from_bad_csv_exits_2(tmp_path: Path, text: str, expected: str) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(text)

    result = run_cli(
        tmp_path / "reg", "train", *SMALL, "--name", "mine", "--data", f"csv:{csv}"
    )

    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {csv}"), result.stderr[:300]
    assert expected in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "reg" / "mine").exists()


def test_bad_option_exits_2_with_message(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "train", *SMALL, "--num-layers", "1", "--dropout", "0.3")
    assert result.returncode == 2
    assert "--dropout 0.3 has no effect with --num-layers 1" in result.stderr
    assert not (tmp_path / "nflx").exists()

    missing = run_cli(
        tmp_path, "train", *SMALL, "--name", "mine", "--data", "csv:/no/such.csv"
    )
    assert missing.returncode == 2
    assert "/no/such.csv" in missing.stderr


def test_yfinance_bars_off_sessions_rejected(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    write_xetra_cache(cache)

    result = run_cli(
        tmp_path / "registry",
        "train",
        *SMALL,
        "--name",
        "sap",
        "--data",
        "yfinance:SAP.DE",
        "--start",
        "2020-01-16",
        "--end",
        "2020-02-19",
        env={"RNN_FORECAST_CACHE_DIR": str(cache)},
    )

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"error: {XETRA_CACHE_MESSAGE}"
    assert not (tmp_path / "registry").exists()


def test_train_without_name_needs_bundled_data(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "train", *SMALL, "--data", "synthetic:sine")
    assert result.returncode == 2
    assert result.stderr == (
        "error: --name is missing: the default name nflx is only for the "
        "bundled NFLX data, so a model trained on --data synthetic needs a name "
        "of its own; add --name NAME\n"
    )
    assert not (tmp_path / "nflx").exists()


def test_train_spec_file_without_name_names_options(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"data": {"source": "synthetic"}}))

    result = run_cli(tmp_path, "train", *SMALL, "--spec", str(spec))

    assert result.returncode == 2
    assert result.stderr == (
        "error: --name is missing: the default name nflx is only for the "
        "bundled NFLX data, so a model trained on data.source 'synthetic' needs "
        "a name of its own; add --name NAME\n"
    )


def test_offline_yfinance_points_to_bundled_data(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, "train", *SMALL, "--name", "nflx", "--data", "yfinance:NFLX"
    )
    assert result.returncode == 2
    assert "NFLX" in result.stderr
    assert "bundled" in result.stderr


def test_train_stores_negative_zero_dropout_as_zero(tmp_path: Path) -> None:
    registry = tmp_path / "registry"

    trained = run_cli(registry, "train", *SMALL, "--dropout", "-0.0")
    shown = run_cli(registry, "models", "show", "nflx:1", "--json")

    assert trained.returncode == 0, trained.stderr
    assert shown.returncode == 0, shown.stderr
    dropout = json.loads(shown.stdout)["spec"]["dropout"]
    assert dropout == 0.0
    assert math.copysign(1.0, dropout) == 1.0
