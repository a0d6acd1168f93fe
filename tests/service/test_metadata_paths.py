"""Metadata paths joined once per version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.registry import METADATA_FILE
from service import metadata_paths
from service.metadata_paths import MetadataPaths


def test_path_matches_os_path_join(tmp_path: Path) -> None:
    paths = MetadataPaths(os.fspath(tmp_path))
    expected = os.path.join(tmp_path, "m", "versions", "3", METADATA_FILE)

    assert paths.get("m", 3) == expected
    assert paths.get("m", 3) == expected


def test_paths_beyond_bound_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metadata_paths, "MAX_CACHED_PATHS", 2)
    paths = MetadataPaths(os.fspath(tmp_path))
    for version in range(1, 6):
        expected = os.path.join(tmp_path, "m", "versions", str(version), METADATA_FILE)
        assert paths.get("m", version) == expected

    assert len(paths._paths) == 2
