"""Checkpoint registry: versions, aliases, atomic writes, corrupt versions."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from models.errors import (
    CheckpointError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from models.nn.forecaster import Forecaster
from models.pipeline import train_and_register
from models.registry import Registry
from models.registry_json import parse_registry_json
from models.spec import SyntheticData
from models.version_checks import GRADIENT_FLOW
from models.version_refs import MAX_VERSION
from tests.conftest import tiny_spec

CONFIG = {
    "cell": "gru",
    "input_size": 1,
    "hidden_size": 4,
    "num_layers": 1,
    "horizon": 2,
    "dropout": 0.0,
}


def metadata() -> dict[str, object]:
    """The fields that ``StoredMetadata`` requires beside those that
    ``Registry.write`` adds, for a tiny untrained GRU."""
    return {
        "created_at": "2026-01-02T00:00:00+00:00",
        "data": {"source": "synthetic"},
        "split": {},
        "metrics": {},
        "model": CONFIG,
        "spec": {"target": "price", "lookback": 3, "horizon": 2},
        "scaler": {"kind": "standard", "shift": 0.0, "scale": 1.0, "min": 0, "max": 1},
        "tail": {
            "dates": ["2020-01-02", "2020-01-03", "2020-01-06"],
            "close": [1, 2, 3],
        },
    }


def write_one(registry: Registry, name: str = "m", seed: int = 0) -> int:
    torch.manual_seed(seed)
    model = Forecaster.from_config(CONFIG)
    return registry.write(name, model.state_dict(), metadata())


def test_versions_count_up(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    assert [write_one(registry) for _ in range(3)] == [1, 2, 3]
    assert registry.versions("m") == [1, 2, 3]
    assert registry.names() == ["m"]


def test_job_registry_stamps_job_id(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = Forecaster.from_config(CONFIG).state_dict()
    copied = {**metadata(), "job_id": "copied-from-elsewhere"}

    by_job = Registry(tmp_path, job_id="job-1").write("m", state, copied)
    by_hand = Registry(tmp_path).write("m", state, copied)

    registry = Registry(tmp_path)
    assert registry.metadata("m", by_job)["job_id"] == "job-1"
    assert "job_id" not in registry.metadata("m", by_hand)
    assert registry.version_of_job("m", "job-1") == by_job
    assert registry.version_of_job("m", "copied-from-elsewhere") is None


@pytest.mark.parametrize(
    "content",
    [b"{", b"\xff", b"[" * 100_000, b"1" * 5_000, b"[1, 2]"],
    ids=["truncated", "not-utf8", "nested", "long-integer", "array"],
)
def test_version_of_job_skips_unreadable_metadata(
    tmp_path: Path, content: bytes
) -> None:
    registry = Registry(tmp_path, job_id="job-2")
    write_one(registry)
    second = write_one(registry)
    (tmp_path / "m" / "versions" / str(second) / "metadata.json").write_bytes(content)

    assert registry.version_of_job("m", "job-2") == 1


def test_version_of_job_parses_only_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_one(Registry(tmp_path, job_id="job-3"))
    for _ in range(3):
        write_one(Registry(tmp_path, job_id="job-4"))
    parsed = []

    def parse(raw: bytes) -> Any:
        parsed.append(raw)
        return parse_registry_json(raw)

    monkeypatch.setattr("models.registry.parse_registry_json", parse)

    assert Registry(tmp_path).version_of_job("m", "job-3") == 1
    assert len(parsed) == 1


def test_weights_readable_like_metadata(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    folder = tmp_path / "m" / "versions" / "1"

    weights_mode = (folder / "weights.safetensors").stat().st_mode & 0o777
    metadata_mode = (folder / "metadata.json").stat().st_mode & 0o777

    assert weights_mode == metadata_mode


def test_round_trip_keeps_weights(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    torch.manual_seed(3)
    model = Forecaster.from_config(CONFIG)
    registry.write("m", model.state_dict(), metadata())
    loaded = registry.load("m", 1)
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key])
    assert loaded.version == 1
    assert loaded.lookback == 3


def test_latest_and_aliases(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    write_one(registry)
    assert registry.resolve("m", "latest") == 2
    registry.set_alias("m", "production", 1)
    assert registry.resolve("m", "production") == 1
    assert registry.aliases("m") == {"production": 1, "latest": 2}
    with pytest.raises(InvalidInputError, match="alias 'latest' always means"):
        registry.set_alias("m", "latest", 1)
    with pytest.raises(NotFoundError, match=r"has no version 9; versions are \[1, 2\]"):
        registry.set_alias("m", "staging", 9)
    with pytest.raises(InvalidInputError, match="cannot be deleted"):
        registry.delete_alias("m", "latest")
    with pytest.raises(NotFoundError, match=r"can be deleted are \['production'\]"):
        registry.delete_alias("m", "staging")


def test_unknown_names_and_versions(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    with pytest.raises(NotFoundError, match="model 'x' not found"):
        registry.resolve("x", "latest")
    with pytest.raises(NotFoundError, match="has no version 5"):
        registry.resolve("m", 5)
    with pytest.raises(NotFoundError, match="has no alias 'gold'"):
        registry.resolve("m", "gold")


@pytest.mark.parametrize("name", ["../x", "/etc", "a/b", "..", "A", "", "x" * 65])
def test_names_cannot_leave_the_root(tmp_path: Path, name: str) -> None:
    registry = Registry(tmp_path)
    with pytest.raises(InvalidInputError, match="is invalid"):
        registry.versions(name)


@pytest.mark.parametrize("alias", ["../1", "/tmp", "a.b", "1x"])
def test_aliases_are_validated(tmp_path: Path, alias: str) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    with pytest.raises(InvalidInputError, match="version .* is invalid; send"):
        registry.resolve("m", alias)


def test_uppercase_alias_suggests_lowercase(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)

    with pytest.raises(InvalidInputError) as resolving:
        registry.resolve("m", "LATEST")
    with pytest.raises(InvalidInputError) as setting:
        registry.set_alias("m", "Prod", 1)

    assert "'LATEST' is invalid because aliases are lowercase (send 'latest'); " in (
        resolving.value.message
    )
    assert setting.value.message == (
        "alias 'Prod' is invalid because aliases are lowercase (send 'prod'); use "
        "1-64 characters of a-z, 0-9, '_' and '-', starting with a letter"
    )


def test_corrupt_weights_fail_clearly(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    weights = tmp_path / "m" / "versions" / "1" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="do not match the sha256"):
        registry.load("m", 1)


def test_weights_that_do_not_fit_fail_clearly(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    meta_path = tmp_path / "m" / "versions" / "1" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["model"]["hidden_size"] = 5
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not fit its metadata"):
        registry.load("m", 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "metadata of m:1 is corrupt"),
        ("[1]", "metadata of m:1 is a JSON list, not an object"),
    ],
)
def test_corrupt_metadata_fails_clearly(
    tmp_path: Path, content: str, message: str
) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    (tmp_path / "m" / "versions" / "1" / "metadata.json").write_text(content)
    with pytest.raises(CheckpointError, match=message):
        registry.load("m", 1)
    assert message in str(registry.unreadable("m"))


def test_half_written_version_is_invisible(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    # what a writer killed before its rename leaves behind
    partial = tmp_path / "m" / ".tmp-deadbeef"
    partial.mkdir()
    (partial / "weights.safetensors").write_bytes(b"partial")
    # a folder without metadata is not a version either
    (tmp_path / "m" / "versions" / "7").mkdir()
    assert registry.versions("m") == [1]
    assert write_one(registry) == 2


@pytest.mark.parametrize("folder", ["\u00b2", "\u0663", "01", "0", "1000000000"])
def test_odd_version_folder_ignored(tmp_path: Path, folder: str) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    versions = tmp_path / "m" / "versions"
    shutil.copytree(versions / "1", versions / folder)

    assert registry.versions("m") == [1]
    assert registry.names() == ["m"]
    assert registry.resolve("m", "latest") == 1
    assert write_one(registry) == 2


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    bad = metadata()
    bad["metrics"] = {"rmse": float("nan")}  # JSON without NaN rejects it
    model = Forecaster.from_config(CONFIG)
    with pytest.raises(ValueError):
        registry.write("m", model.state_dict(), bad)
    assert registry.versions("m") == []
    assert list((tmp_path / "m").glob(".tmp-*")) == []


def _write_in_process(root: str, seed: int, queue: multiprocessing.Queue) -> None:
    queue.put(write_one(Registry(root), seed=seed))


def test_concurrent_writers_get_distinct_versions(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_write_in_process, args=(str(tmp_path), i, queue))
        for i in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    versions = sorted(queue.get(timeout=5) for _ in workers)
    assert versions == [1, 2, 3, 4]
    registry = Registry(tmp_path)
    for version in versions:
        assert registry.load("m", version).version == version


def test_resolve_rejects_non_ascii_digits(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)

    with pytest.raises((InvalidInputError, NotFoundError)):
        registry.resolve("m", "²")


def test_version_with_null_scaler_cannot_forecast(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    scaler = {"kind": "standard", "shift": None, "scale": 1.0, "min": 0, "max": 1}
    meta = {**metadata(), "scaler": scaler}
    registry.write("m", Forecaster.from_config(CONFIG).state_dict(), meta)

    with pytest.raises(InvalidInputError) as caught:
        registry.load("m")

    assert caught.value.field == "version"
    assert caught.value.message == (
        "m:1 cannot forecast: its training diverged and left scaler.shift not "
        "finite; use another version, or train a new one"
    )


def test_null_scaler_error_names_diagnostic(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    scaler = {"kind": "standard", "shift": 0.0, "scale": None, "min": 0, "max": 1}
    meta = {**metadata(), "scaler": scaler}
    registry.write("m", Forecaster.from_config(CONFIG).state_dict(), meta)

    with pytest.raises(InvalidInputError) as caught:
        registry.load("m", use=GRADIENT_FLOW)

    assert caught.value.field == "model.version"
    assert caught.value.message == (
        "m:1 cannot be analysed by the gradient-flow diagnostic: its training "
        "diverged and left scaler.scale not finite; analyse another version, or "
        "leave the model out to analyse a fresh network"
    )


def test_version_with_nan_weights_cannot_forecast(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    state = Forecaster.from_config(CONFIG).state_dict()
    state["head.bias"] = torch.full_like(state["head.bias"], float("nan"))
    registry.write("m", state, metadata())

    with pytest.raises(InvalidInputError, match="left the weights head.bias not"):
        registry.load("m")


def test_removed_version_number_not_reused(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    write_one(registry)
    shutil.move(tmp_path / "m" / "versions" / "2", tmp_path / "moved")

    assert write_one(registry) == 3
    assert registry.versions("m") == [1, 3]
    assert (tmp_path / "m" / "highest_version").read_text() == "3\n"


@pytest.mark.parametrize("content", ["two", "", "-1", "3.0"])
def test_invalid_highest_version_stops_write(tmp_path: Path, content: str) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    (tmp_path / "m" / "highest_version").write_text(content)

    with pytest.raises(CheckpointError) as caught:
        write_one(registry)

    assert caught.value.message.startswith(
        f"file m/highest_version in the registry is invalid: {content!r} is not "
        "a version number"
    )
    assert registry.versions("m") == [1]
    assert list((tmp_path / "m").glob(".tmp-*")) == []
    assert "m/highest_version" in str(registry.unreadable("m"))


def test_invalid_highest_version_stops_training(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry, name="tiny")
    (tmp_path / "tiny" / "highest_version").write_text("x")
    data = SyntheticData(generator="ar1", length=300, level=50.0)
    spec = tiny_spec(name="tiny", target="price", data=data, epochs=1)
    stages: list[str] = []

    with pytest.raises(CheckpointError, match="tiny/highest_version"):
        train_and_register(spec, registry, on_stage=stages.append)

    assert stages == []
    assert registry.versions("tiny") == [1]


def test_no_version_above_largest_number(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    (tmp_path / "m" / "highest_version").write_text(f"{MAX_VERSION}\n")

    with pytest.raises(ConflictError, match="every version number up to 999999999"):
        write_one(registry)
    assert registry.versions("m") == [1]
    assert not list((tmp_path / "m").glob(".tmp-*"))


def test_highest_version_folder_named_in_error(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    (tmp_path / "m" / "highest_version").unlink()
    (tmp_path / "m" / "highest_version").mkdir()

    with pytest.raises(CheckpointError) as caught:
        write_one(registry)
    assert str(caught.value) == (
        "m/highest_version in the registry is a folder, not a file; remove that "
        "folder, and the next version writes the file again"
    )
    assert registry.versions("m") == [1]


@pytest.mark.parametrize(
    "content",
    ["[1, 2]", "{broken", '{"prod": "1"}', '{"prod": true}', '{"latest": 1}'],
)
def test_invalid_alias_file_named_in_error(tmp_path: Path, content: str) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    write_one(registry)
    (tmp_path / "m" / "aliases.json").write_text(content)

    assert registry.resolve("m", "latest") == 2
    assert registry.resolve("m", 1) == 1
    with pytest.raises(CheckpointError, match="alias file m/aliases.json .* invalid"):
        registry.resolve("m", "prod")
    with pytest.raises(CheckpointError, match="Fix or delete the file"):
        registry.set_alias("m", "prod", 1)
    assert "m/aliases.json" in str(registry.unreadable("m"))


def test_dangling_alias_names_missing_version(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    (tmp_path / "m" / "aliases.json").write_text('{"prod": 99}')

    with pytest.raises(
        NotFoundError,
        match=r"alias 'prod' of model 'm' points at version 99, which does not "
        r"exist; versions are \[1\]. Point the alias at an existing version",
    ):
        registry.resolve("m", "prod")


def test_dangling_aliases_listed_sorted(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    aliases = tmp_path / "m" / "aliases.json"
    aliases.write_text('{"prod": 99, "beta": 7, "stable": 1}')

    assert registry.dangling_aliases("m") == ["beta", "prod"]

    # Registry.unreadable reports an alias file that cannot be read
    aliases.write_text("[1]")
    assert registry.dangling_aliases("m") == []
    assert "m/aliases.json" in str(registry.unreadable("m"))


def test_alias_to_unreadable_version_rejected(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    (tmp_path / "m" / "versions" / "1" / "metadata.json").write_text('{"broken')

    with pytest.raises(
        ConflictError, match="alias 'x' cannot point at m:1 because its metadata"
    ):
        registry.set_alias("m", "x", 1)
    assert not (tmp_path / "m" / "aliases.json").exists()


def test_unreadable_none_for_valid_model(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    registry.set_alias("m", "prod", 1)

    assert registry.unreadable("m") is None


def test_newer_format_fails_clearly(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    meta_path = tmp_path / "m" / "versions" / "1" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["format"] = 2
    meta_path.write_text(json.dumps(meta))

    with pytest.raises(CheckpointError) as caught:
        registry.load("m", 1)

    assert "metadata of m:1 is invalid (format 2 is newer than format 1" in str(
        caught.value
    )


def test_current_format_loads(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    meta_path = tmp_path / "m" / "versions" / "1" / "metadata.json"

    assert json.loads(meta_path.read_text())["format"] == 1
    assert registry.load("m", 1).version == 1


def test_unreadable_names_corrupt_weights(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    weights = tmp_path / "m" / "versions" / "1" / "weights.safetensors"
    good = weights.read_bytes()

    assert registry.unreadable("m") is None
    weights.write_bytes(good[:-4] + b"\0\0\0\0")
    assert "weights of m:1 do not match the sha256" in str(registry.unreadable("m"))
    weights.unlink()
    assert "weights file of m:1 is missing" in str(registry.unreadable("m"))
    weights.write_bytes(good)
    assert registry.unreadable("m") is None


def test_unreadable_hashes_unchanged_weights_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    weights = tmp_path / "m" / "versions" / "1" / "weights.safetensors"
    reads: list[Path] = []
    original = Path.read_bytes

    def counted(path: Path) -> bytes:
        if path.name == "weights.safetensors":
            reads.append(path)
        return original(path)

    monkeypatch.setattr(Path, "read_bytes", counted)
    # a file written just now is hashed on every call
    for _ in range(2):
        assert registry.unreadable("m") is None
    old = time.time() - 60
    os.utime(weights, (old, old))
    for _ in range(3):
        assert registry.unreadable("m") is None

    assert len(reads) == 3
