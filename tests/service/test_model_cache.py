"""The model cache: hits without loading, reloads of replaced versions."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
import torch

from models.registry import Registry
from service.inference import ModelCache
from service.metadata_paths import metadata_stamp
from tests.conftest import copy_version
from tests.models.test_registry import write_one


def first_weight(cache: ModelCache, version: int) -> torch.Tensor:
    loaded = cache.get("m", version)
    return next(iter(loaded.model.state_dict().values()))


def test_unchanged_version_is_a_hit(tmp_path: Path) -> None:
    cache = ModelCache(Registry(tmp_path), max_size=4)
    write_one(cache.registry)
    first = cache.get("m", 1)

    assert cache.peek("m", 1) is first
    assert cache.misses == 1
    assert cache.hits == 1


def test_checkpoint_is_metadata_sha256(tmp_path: Path) -> None:
    cache = ModelCache(Registry(tmp_path), max_size=4)
    write_one(cache.registry)
    raw = (tmp_path / "m" / "versions" / "1" / "metadata.json").read_bytes()

    assert cache.get("m", 1).checkpoint == hashlib.sha256(raw).hexdigest()


def test_replaced_version_folder_is_loaded_again(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry, seed=0)
    write_one(registry, seed=1)
    cache = ModelCache(registry, max_size=4)
    old = first_weight(cache, 2)

    # version 2 is moved away and version 1's folder is copied in its place
    versions = tmp_path / "m" / "versions"
    shutil.move(versions / "2", tmp_path / "old-2")
    copy_version(versions / "1", versions / "2")

    assert cache.peek("m", 2) is None
    new = first_weight(cache, 2)
    assert not torch.equal(new, old)
    assert torch.equal(new, first_weight(cache, 1))


def test_retrained_model_folder_is_loaded_again(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry, seed=0)
    cache = ModelCache(registry, max_size=4)
    old = cache.get("m", 1)

    # the whole model folder goes, so the next write is version 1 again
    shutil.rmtree(tmp_path / "m")
    assert write_one(registry, seed=1) == 1
    new = cache.get("m", 1)

    assert new is not old
    assert new.checkpoint != old.checkpoint
    assert not torch.equal(
        next(iter(new.model.state_dict().values())),
        next(iter(old.model.state_dict().values())),
    )
    assert len(cache) == 1


def test_removed_version_is_no_hit(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry)
    cache = ModelCache(registry, max_size=4)
    cache.get("m", 1)
    shutil.rmtree(tmp_path / "m" / "versions" / "1")

    assert cache.peek("m", 1) is None
    assert len(cache) == 0


def test_evicted_version_is_no_hit(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    write_one(registry, seed=0)
    write_one(registry, seed=1)
    cache = ModelCache(registry, max_size=1)
    cache.get("m", 1)
    cache.get("m", 2)

    assert len(cache) == 1
    assert cache.peek("m", 1) is None
    assert cache.peek("m", 2) is not None


def test_peek_uses_given_stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller that has just stat'ed the metadata file passes its stamp,
    and peek then makes no stat of its own."""
    cache = ModelCache(Registry(tmp_path), max_size=4)
    write_one(cache.registry)
    first = cache.get("m", 1)
    stamp = metadata_stamp(str(tmp_path / "m" / "versions" / "1" / "metadata.json"))
    stats: list[object] = []
    real_stat = os.stat

    def counted(*args: object) -> os.stat_result:
        stats.append(args)
        return real_stat(*args)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "stat", counted)

    assert cache.peek("m", 1, stamp) is first
    assert cache.peek("m", 1, (stamp[0], stamp[1] + 1, stamp[2], stamp[3])) is None
    assert stats == []
