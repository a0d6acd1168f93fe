"""Cached version resolution: same results and errors as the registry, no
reads while nothing changes, changes seen within the documented bound."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from models.errors import CheckpointError, InvalidInputError, NotFoundError
from models.registry import Registry
from service.resolution import VersionResolver
from tests.models.test_registry import write_one


class FakeClock:
    """A monotonic clock that advances only when the test sets ``now``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def age_files(registry: Registry, name: str, seconds: float = 60.0) -> None:
    """Move the modification times of the checked paths into the past, so
    the resolver trusts them instead of treating them as just written."""
    past = time.time() - seconds
    for path in (
        registry.root / name / "versions",
        registry.root / name / "aliases.json",
    ):
        if path.exists():
            os.utime(path, (past, past))


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    registry = Registry(tmp_path)
    write_one(registry)
    write_one(registry, seed=1)
    registry.set_alias("m", "production", 1)
    age_files(registry, "m")
    return registry


def test_resolves_like_the_registry(registry: Registry) -> None:
    resolver = VersionResolver(registry)
    for ref in (1, "1", 2, "2", "latest", "production"):
        assert resolver.resolve("m", ref) == registry.resolve("m", ref)


def test_cached_long_zero_padding_resolves(registry: Registry) -> None:
    """A number with more leading zeros than int() converts (4300 digits by
    default) resolves from the cache as from the registry."""
    resolver = VersionResolver(registry)
    ref = "0" * 5000 + "2"

    assert resolver.resolve("m", "latest") == 2
    assert resolver.resolve("m", ref) == 2


@pytest.mark.parametrize(
    ("name", "ref", "error", "message"),
    [
        ("nope", "latest", NotFoundError, "model 'nope' not found"),
        ("m", 9, NotFoundError, "model 'm' has no version 9"),
        ("m", "0", InvalidInputError, "version '0' is invalid because versions"),
        ("m", "0009", NotFoundError, "model 'm' has no version 9"),
        ("m", "gold", NotFoundError, "model 'm' has no alias 'gold'"),
        ("m", "../1", InvalidInputError, "version '../1' is invalid; send"),
        ("m", -1, InvalidInputError, "version -1 is invalid because versions"),
        ("m", 10**9, InvalidInputError, "version 1000000000 is above the largest"),
        ("../m", "latest", InvalidInputError, "model name '../m' is invalid"),
    ],
)
def test_errors_match_the_registry(
    registry: Registry, name: str, ref: str | int, error: type, message: str
) -> None:
    resolver = VersionResolver(registry)
    resolver.resolve("m", "latest")
    with pytest.raises(error, match=message.replace(".", r"\.")):
        resolver.resolve(name, ref)


def test_unchanged_registry_is_read_once(registry: Registry) -> None:
    resolver = VersionResolver(registry)
    for _ in range(50):
        assert resolver.resolve("m", "production") == 1
        assert resolver.resolve("m", "latest") == 2
    assert resolver.reads == 1


def test_new_version_is_seen_by_next_request(registry: Registry) -> None:
    resolver = VersionResolver(registry)
    assert resolver.resolve("m", "latest") == 2

    assert write_one(registry, seed=2) == 3

    assert resolver.resolve("m", "latest") == 3
    assert resolver.resolve("m", 3) == 3


def test_alias_switch_is_seen_by_next_request(registry: Registry) -> None:
    resolver = VersionResolver(registry)
    assert resolver.resolve("m", "production") == 1

    registry.set_alias("m", "production", 2)
    registry.set_alias("m", "canary", 1)

    assert resolver.resolve("m", "production") == 2
    assert resolver.resolve("m", "canary") == 1


def test_ttl_bounds_how_long_a_switch_stays_unseen(registry: Registry) -> None:
    clock = FakeClock()
    resolver = VersionResolver(registry, ttl_seconds=0.5, clock=clock)
    assert resolver.resolve("m", "production") == 1

    registry.set_alias("m", "production", 2)
    clock.now += 0.4
    assert resolver.resolve("m", "production") == 1
    clock.now += 0.2
    assert resolver.resolve("m", "production") == 2


def test_ttl_does_not_hide_a_new_version_number(registry: Registry) -> None:
    clock = FakeClock()
    resolver = VersionResolver(registry, ttl_seconds=60.0, clock=clock)
    assert resolver.resolve("m", "latest") == 2

    write_one(registry, seed=2)

    assert resolver.resolve("m", 3) == 3
    assert resolver.resolve("m", "latest") == 3


def test_just_written_folder_is_read_again(registry: Registry) -> None:
    write_one(registry, seed=2)
    resolver = VersionResolver(registry)

    resolver.resolve("m", "latest")
    resolver.resolve("m", "latest")
    assert resolver.reads == 2

    age_files(registry, "m")
    resolver.resolve("m", "latest")
    resolver.resolve("m", "latest")
    assert resolver.reads == 3


def test_invalidate_forces_a_read(registry: Registry) -> None:
    resolver = VersionResolver(registry)
    resolver.resolve("m", "latest")
    resolver.invalidate("m")
    resolver.resolve("m", "latest")
    resolver.invalidate()
    resolver.resolve("m", "latest")
    assert resolver.reads == 3


def test_negative_ttl_is_rejected(registry: Registry) -> None:
    with pytest.raises(ValueError, match="ttl_seconds=-1 is negative"):
        VersionResolver(registry, ttl_seconds=-1)


def test_latest_survives_invalid_alias_file(registry: Registry) -> None:
    resolver = VersionResolver(registry)
    (registry.root / "m" / "aliases.json").write_text("[1, 2]")

    assert resolver.resolve("m", "latest") == 2
    assert resolver.resolve("m", 1) == 1
    with pytest.raises(CheckpointError, match="alias file m/aliases.json"):
        resolver.resolve("m", "production")


def test_cached_dangling_alias_raises(registry: Registry) -> None:
    resolver = VersionResolver(registry)
    assert resolver.resolve("m", "production") == 1
    (registry.root / "m" / "aliases.json").write_text('{"production": 99}')

    with pytest.raises(NotFoundError, match="points at version 99, which does not"):
        resolver.resolve("m", "production")


def test_removed_metadata_moves_latest_back(registry: Registry) -> None:
    """The metadata path kept for a resolved version is stat'ed again on
    every request, so a version whose metadata file goes away after it was
    served stops being ``latest``."""
    resolver = VersionResolver(registry)
    assert resolver.resolve("m", "latest") == 2

    (registry.root / "m" / "versions" / "2" / "metadata.json").unlink()

    assert resolver.resolve("m", "latest") == 1


def test_resolve_stamped_gives_metadata_stamp(registry: Registry) -> None:
    """The stamp comes from the stat that checks the version's metadata
    file, so it names that file's inode, times and size."""
    resolver = VersionResolver(registry)
    path = registry.root / "m" / "versions" / "1" / "metadata.json"
    info = os.stat(path)

    version, stamp = resolver.resolve_stamped("m", "production")

    assert version == 1
    assert stamp == (info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size)


def test_registry_resolution_gives_no_stamp(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the registry resolves the reference, no stat of the metadata
    file was made, so the model cache must make its own."""
    resolver = VersionResolver(registry)
    monkeypatch.setattr(resolver, "_current", lambda name: None)

    assert resolver.resolve_stamped("m", "production") == (1, None)
