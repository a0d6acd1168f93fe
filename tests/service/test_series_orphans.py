"""An upload interrupted between writing its CSV and its description
leaves no series that a listing, a lookup or a job can use, and the API
removes the orphan when it starts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from models.errors import NotFoundError
from models.registry import Registry
from service.series_orphans import (
    ORPHAN_MIN_AGE_SECONDS,
    next_sweep_delay,
    orphan_files,
    sweep_orphans,
)
from service.series_store import (
    list_series,
    read_series_info,
    save_series,
    series_exists,
)
from service.settings import Settings
from tests.conftest import ROOT, LiveServer
from tests.service.jobs_support import tiny_job
from tests.service.test_series import yahoo_tail

# an upload whose process is killed (SIGKILL) just before it writes the
# description; argv[1] is the data folder
CRASHING_UPLOAD = """
import os
import signal
import sys

from service import series_store
from service.settings import Settings
from tests.service.test_series import yahoo_tail

write = series_store._write_atomic


def write_then_crash(path, data):
    if path.suffix == ".json":
        os.kill(os.getpid(), signal.SIGKILL)
    write(path, data)


series_store._write_atomic = write_then_crash
settings = Settings(registry=sys.argv[1] + "/registry", data_dir=sys.argv[1])
series_store.save_series(yahoo_tail(50), settings)
"""


def crash_upload(data_dir: Path) -> str:
    """Run an upload that is killed between its two writes; return the id
    of the CSV that it left."""
    before = set((data_dir / "series").glob("*.csv"))
    completed = subprocess.run(
        [sys.executable, "-c", CRASHING_UPLOAD, str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == -signal.SIGKILL, completed.stderr
    (left,) = set((data_dir / "series").glob("*.csv")) - before
    return left.stem


def age(path: Path, seconds: float) -> None:
    """Set the modification time of ``path`` to ``seconds`` ago."""
    moment = time.time() - seconds
    os.utime(path, (moment, moment))


def test_crashed_upload_is_invisible(tmp_path: Path) -> None:
    settings = Settings(registry=tmp_path / "registry", data_dir=tmp_path)
    stored = save_series(yahoo_tail(50), settings)

    orphan = crash_upload(tmp_path)

    assert (tmp_path / "series" / f"{orphan}.csv").is_file()
    assert not (tmp_path / "series" / f"{orphan}.json").exists()
    assert not series_exists(settings, orphan)
    assert series_exists(settings, stored["id"])
    with pytest.raises(NotFoundError):
        read_series_info(settings, orphan)
    infos, total = list_series(settings, limit=10)
    assert [info["id"] for info in infos] == [stored["id"]]
    assert total == 1


def test_orphans_younger_than_minimum_kept(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    for name in ("a" * 32 + ".csv", ".x.json.1.tmp", "b" * 32 + ".csv"):
        (folder / name).write_text("date,value\n")
    (folder / ("b" * 32 + ".json")).write_text("{}")
    age(folder / ("a" * 32 + ".csv"), ORPHAN_MIN_AGE_SECONDS + 1)

    found = orphan_files(folder, time.time(), ORPHAN_MIN_AGE_SECONDS)

    # the temporary file is new and the other CSV has its description
    assert [path.name for path in found] == ["a" * 32 + ".csv"]


def test_check_outcome_without_description_is_orphan(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    names = [
        "c" * 32 + ".checked.json",
        "d" * 32 + ".checked.json",
        "notes.checked.json",
    ]
    for name in names:
        (folder / name).write_text("{}")
        age(folder / name, ORPHAN_MIN_AGE_SECONDS + 1)
    (folder / ("d" * 32 + ".json")).write_text("{}")

    found = orphan_files(folder, time.time(), ORPHAN_MIN_AGE_SECONDS)

    # the second has its description, and the third is named by no series id
    assert [path.name for path in found] == ["c" * 32 + ".checked.json"]


def test_server_start_removes_old_orphans(
    trained_registry: Registry, tmp_path: Path
) -> None:
    settings = Settings(registry=trained_registry.root, data_dir=tmp_path)
    stored = save_series(yahoo_tail(50), settings)
    old = crash_upload(tmp_path)
    folder = tmp_path / "series"
    young = "c" * 32
    shutil.copy(folder / f"{old}.csv", folder / f"{young}.csv")
    temporary = folder / f".{'d' * 32}.csv.{'e' * 32}.tmp"
    temporary.write_text("date,value\n")
    age(folder / f"{old}.csv", ORPHAN_MIN_AGE_SECONDS + 1)
    age(temporary, ORPHAN_MIN_AGE_SECONDS + 1)

    server = LiveServer(
        trained_registry.root, env={"RNN_FORECAST_DATA_DIR": str(tmp_path)}
    )
    try:
        listed = server.client.get("/v1/series").json()
        young_info = server.client.get(f"/v1/series/{young}")
        data = {"source": "upload", "series_id": young}
        submitted = server.client.post(
            "/v1/training-jobs", json=tiny_job(name="orphan", data=data)
        )
    finally:
        output = server.stop()

    assert [info["id"] for info in listed["series"]] == [stored["id"]]
    assert listed["total"] == 1
    assert not (folder / f"{old}.csv").exists()
    assert not temporary.exists()
    assert (folder / f"{young}.csv").is_file()
    assert young_info.status_code == 404
    assert submitted.status_code == 422, submitted.text
    assert submitted.json()["errors"][0]["field"] == "data.series_id"
    assert "removed 2 files of interrupted uploads" in output


def test_young_orphan_removed_once_old(
    trained_registry: Registry, tmp_path: Path
) -> None:
    """An orphan too young for the sweep at start-up goes once it is
    ``ORPHAN_MIN_AGE_SECONDS`` old, without another start."""
    young = crash_upload(tmp_path)
    path = tmp_path / "series" / f"{young}.csv"
    age(path, ORPHAN_MIN_AGE_SECONDS - 8)

    server = LiveServer(
        trained_registry.root, env={"RNN_FORECAST_DATA_DIR": str(tmp_path)}
    )
    try:
        deadline = time.monotonic() + 40
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        still_there = path.exists()
    finally:
        output = server.stop()

    assert not still_there
    assert "removed 1 file of interrupted uploads" in output


def test_no_orphans_no_later_sweep(tmp_path: Path) -> None:
    settings = Settings(registry=tmp_path / "registry", data_dir=tmp_path)
    save_series(yahoo_tail(50), settings)

    assert next_sweep_delay(settings) is None


def test_later_sweep_waits_for_youngest(tmp_path: Path) -> None:
    settings = Settings(registry=tmp_path / "registry", data_dir=tmp_path)
    folder = tmp_path / "series"
    folder.mkdir()
    for name, seconds in (("a", 10.0), ("b", 50.0), ("c", 70.0)):
        (folder / f"{name * 32}.csv").write_text("date,value\n")
        age(folder / f"{name * 32}.csv", seconds)

    delay = next_sweep_delay(settings, min_age=60.0)

    assert delay is not None
    assert 49.0 <= delay <= 50.5


def test_folders_with_orphan_names_kept(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    entries = [folder / ".notes.tmp", folder / ("f" * 32 + ".csv")]
    for entry in entries:
        entry.mkdir()
        age(entry, ORPHAN_MIN_AGE_SECONDS + 1)

    assert orphan_files(folder, time.time(), ORPHAN_MIN_AGE_SECONDS) == []


def test_orphan_that_cannot_be_removed_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(registry=tmp_path / "registry", data_dir=tmp_path)
    folder = tmp_path / "series"
    folder.mkdir()
    stuck = folder / ("a" * 32 + ".csv")
    stuck.write_text("date,value\n")
    age(stuck, ORPHAN_MIN_AGE_SECONDS + 1)

    def deny_unlink(path: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "unlink", deny_unlink)
    with caplog.at_level("WARNING", logger="service.series_orphans"):
        removed = sweep_orphans(settings)

    assert removed == []
    assert f"failed to remove {stuck} of an interrupted upload" in caplog.text
    assert "Permission denied; remove it by hand" in caplog.text


def list_after_start(
    trained_registry: Registry, data_dir: Path
) -> tuple[httpx.Response, str]:
    """Start a server on ``data_dir``, list the series and stop it; return
    the listing and the server's output."""
    server = LiveServer(
        trained_registry.root, env={"RNN_FORECAST_DATA_DIR": str(data_dir)}
    )
    try:
        listed = server.client.get("/v1/series")
    finally:
        output = server.stop()
    return listed, output


def test_server_starts_beside_folders_with_orphan_names(
    trained_registry: Registry, tmp_path: Path
) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    notes_folder = folder / ".notes.tmp"
    notes_folder.mkdir()
    orphan = folder / ("b" * 32 + ".csv")
    orphan.write_text("date,value\n")
    for path in (notes_folder, orphan):
        age(path, ORPHAN_MIN_AGE_SECONDS + 1)

    listed, output = list_after_start(trained_registry, tmp_path)

    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] == 0
    assert notes_folder.is_dir()
    assert not orphan.exists()
    assert "removed 1 file of interrupted uploads" in output


def test_files_not_named_by_series_id_ignored(
    trained_registry: Registry, tmp_path: Path
) -> None:
    """A file that no upload wrote, such as notes beside the uploads, is
    neither listed nor removed."""
    settings = Settings(registry=trained_registry.root, data_dir=tmp_path)
    stored = save_series(yahoo_tail(50), settings)
    folder = tmp_path / "series"
    notes = folder / "notes.json"
    notes.write_text("{not json")
    table = folder / "notes.csv"
    table.write_text("date,value\n")
    age(table, ORPHAN_MIN_AGE_SECONDS + 1)

    listed, _ = list_after_start(trained_registry, tmp_path)

    assert listed.status_code == 200, listed.text
    assert [info["id"] for info in listed.json()["series"]] == [stored["id"]]
    assert listed.json()["total"] == 1
    assert notes.is_file()
    assert table.is_file()
