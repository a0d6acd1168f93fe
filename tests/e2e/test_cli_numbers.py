"""The command line on numbers it cannot use: diverged training."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from models import training
from models.cli import main
from models.registry import Registry
from tests.e2e.test_cli import SMALL


def assert_one_error(stderr: str, start: str) -> None:
    """The command printed exactly one ``error:`` line and no traceback."""
    assert stderr.startswith(start), stderr
    assert stderr.count("\n") == 1, stderr


def test_train_stops_at_a_non_finite_loss(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # every validation loss is NaN, as weights that overflowed would make it
    monkeypatch.setattr(training, "validation_loss", lambda *_: math.nan)
    registry = tmp_path / "registry"

    code = main(["--registry", str(registry), "train", *SMALL])

    assert code == 2
    assert_one_error(
        capsys.readouterr().err,
        "error: training diverged in epoch 1 of 2 with the validation loss nan",
    )
    assert Registry(registry).names() == []
