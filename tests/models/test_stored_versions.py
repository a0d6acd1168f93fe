"""A registry version written by rnn-forecast 0.1.0 before integer fields
rejected floats and synthetic specs rejected unused generator fields.

It was trained from a spec with ``"hidden_size": 2.0``, which the registry
stored as 2, and a sine series that sets ``noise`` and ``phi``, which sine
does not use. Its metadata stores every spec field, with the defaults too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.cli import build_parser
from models.cli_evaluation import base_spec
from models.registry import Registry
from models.spec import SyntheticData, TrainingSpec
from models.stored_metadata import metadata_problem
from service.schemas import VersionMetrics

FIXTURE = Path(__file__).parent / "fixtures" / "registry"
NAME = "sine-old"


@pytest.fixture
def old_registry(tmp_path: Path) -> Registry:
    """A copy of the fixture registry, so that no test changes the original."""
    root = tmp_path / "registry"
    shutil.copytree(FIXTURE, root)
    return Registry(root)


def test_old_version_loads(old_registry: Registry) -> None:
    loaded = old_registry.load(NAME, "latest")

    assert loaded.version == 1
    assert loaded.lookback == 5
    assert loaded.horizon == 2
    assert loaded.target == "price"


def test_old_spec_validates(old_registry: Registry) -> None:
    stored = old_registry.metadata(NAME, 1)["spec"]

    spec = TrainingSpec.model_validate(stored)

    assert isinstance(spec.data, SyntheticData)
    assert spec.data.generator == "sine"
    assert spec.data.noise == 0.5
    assert spec.model_dump(mode="json") == stored


def test_old_spec_has_integer_fields(old_registry: Registry) -> None:
    stored = old_registry.metadata(NAME, 1)["spec"]

    for field in ("hidden_size", "num_layers", "lookback", "horizon", "epochs"):
        assert type(stored[field]) is int, field
    assert type(stored["data"]["length"]) is int
    assert type(stored["data"]["seed"]) is int


def test_old_spec_starts_backtest(old_registry: Registry) -> None:
    """``--model`` reads the stored spec, whose sine sets noise and phi,
    without rejecting them."""
    args = build_parser().parse_args(["backtest", "--model", NAME])

    spec = base_spec(args, old_registry)

    assert spec.data == SyntheticData.model_validate(
        old_registry.metadata(NAME, 1)["spec"]["data"]
    )


def test_old_test_intervals_load(old_registry: Registry) -> None:
    """The version lists only its calibrated level, 0.8, without
    ``served``; its validation windows calibrate levels up to 0.88."""
    meta = old_registry.metadata(NAME, 1)

    assert list(meta["metrics"]["test"]["intervals"]) == ["0.8"]
    assert "served" not in meta["metrics"]["test"]["intervals"]["0.8"]
    assert metadata_problem(meta) is None
    metrics = VersionMetrics.model_validate(meta["metrics"])
    assert metrics.test is not None
    assert metrics.test.intervals is not None
    assert metrics.test.intervals["0.8"].served is True
    assert metrics.test.intervals["0.8"].coverage == 0.625


def test_unserved_level_loads(old_registry: Registry) -> None:
    meta = old_registry.metadata(NAME, 1)
    intervals = meta["metrics"]["test"]["intervals"]
    intervals["0.9"] = {"coverage": None, "mean_width": None, "served": False}

    assert metadata_problem(meta) is None
    dumped = VersionMetrics.model_validate(meta["metrics"]).model_dump(mode="json")
    assert dumped["test"]["intervals"]["0.9"] == intervals["0.9"]
    assert dumped["test"]["model"] == meta["metrics"]["test"]["model"]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (
            {"coverage": 0.5, "mean_width": None, "served": False},
            "metrics.test.intervals.0.9: a level with served false has no "
            "coverage or mean_width, but they are 0.5 and None",
        ),
        (
            {"coverage": None, "mean_width": None, "served": "no"},
            "metrics.test.intervals.0.9.served: Input should be a valid boolean",
        ),
        (
            {"coverage": "high", "mean_width": 1.0},
            "metrics.test.intervals.0.9.coverage: Input should be a valid number",
        ),
    ],
)
def test_invalid_interval_row_named(
    old_registry: Registry, row: dict[str, object], problem: str
) -> None:
    meta = old_registry.metadata(NAME, 1)
    meta["metrics"]["test"]["intervals"]["0.9"] = row

    assert metadata_problem(meta) == problem


def test_job_id_must_be_text(old_registry: Registry) -> None:
    meta = old_registry.metadata(NAME, 1)
    meta["job_id"] = 5

    assert metadata_problem(meta) == "job_id: Input should be a valid string"
