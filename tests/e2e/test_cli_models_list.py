"""``rnn-forecast models list``, ``models show`` and ``forecast`` next to a
model whose files are broken."""

from __future__ import annotations

import shutil
from pathlib import Path

from models.registry import Registry
from tests.e2e.test_cli import run_cli


def copy_registry(trained_registry: Registry, tmp_path: Path) -> Path:
    """Copy the trained registry under ``tmp_path``; return its root."""
    root = tmp_path / "registry"
    shutil.copytree(trained_registry.root, root)
    return root


def test_list_flags_broken_alias_file(
    trained_registry: Registry, tmp_path: Path
) -> None:
    root = copy_registry(trained_registry, tmp_path)
    (root / "nflx" / "aliases.json").write_text("{broken")

    listed = run_cli(root, "models", "list")

    assert listed.returncode == 1
    assert listed.stdout.splitlines() == [
        "nflx: versions [1]; aliases latest->1",
        "sine: versions [1]; aliases latest->1",
    ]
    assert "error: model nflx: alias file nflx/aliases.json" in listed.stderr
    assert "sine" not in listed.stderr


def test_list_flags_invalid_metadata(
    trained_registry: Registry, tmp_path: Path
) -> None:
    root = copy_registry(trained_registry, tmp_path)
    (root / "sine" / "versions" / "1" / "metadata.json").write_text('{"spec": 1}')

    listed = run_cli(root, "models", "list")
    intact = run_cli(trained_registry.root, "models", "list")

    assert listed.returncode == 1
    assert "nflx: versions [1]; aliases latest->1" in listed.stdout
    assert "error: model sine: metadata of sine:1 is invalid" in listed.stderr
    assert intact.returncode == 0
    assert intact.stderr == ""


def test_commands_report_unparsable_files(
    trained_registry: Registry, tmp_path: Path
) -> None:
    root = copy_registry(trained_registry, tmp_path)
    (root / "sine" / "versions" / "1" / "metadata.json").write_text(
        "[" * 100_000 + "]" * 100_000
    )
    (root / "nflx" / "highest_version").write_text("9" * 5000)

    listed = run_cli(root, "models", "list")
    show_run = run_cli(root, "models", "show", "sine")
    forecast_run = run_cli(root, "forecast", "sine")

    assert listed.returncode == 1
    assert "Traceback" not in listed.stderr + show_run.stderr + forecast_run.stderr
    assert "error: model sine: metadata of sine:1 is corrupt (arrays" in listed.stderr
    assert "nflx/highest_version in the registry is invalid: '999" in listed.stderr
    assert show_run.returncode == 2
    assert "metadata of sine:1 is corrupt (arrays or objects" in show_run.stderr
    assert forecast_run.returncode == 2
    assert "metadata of sine:1 is corrupt (arrays or objects" in forecast_run.stderr


def test_list_reports_long_number_and_deep_aliases(
    trained_registry: Registry, tmp_path: Path
) -> None:
    root = copy_registry(trained_registry, tmp_path)
    (root / "sine" / "versions" / "1" / "metadata.json").write_text(
        '{"version": ' + "9" * 5000 + "}"
    )
    (root / "nflx" / "aliases.json").write_text("[" * 5000)

    listed = run_cli(root, "models", "list")
    latest = run_cli(root, "forecast", "nflx")

    assert listed.returncode == 1
    assert "Traceback" not in listed.stderr
    assert "sine:1 is corrupt (a number has more than 4300 digits)" in listed.stderr
    assert "alias file nflx/aliases.json in the registry is invalid" in listed.stderr
    assert latest.returncode == 0, latest.stderr
