"""Text output of ``rnn-forecast gradients training``."""

from __future__ import annotations

from typing import Any

from models.cli_gradients import training_table


def record(clip_norm: float | None) -> dict[str, Any]:
    """Return a training-gradients record of two epochs."""
    epochs = [
        {"epoch": 1, "grad_norm": 0.5, "grad_norm_max": 2.0, "clip_fraction": 0.25},
        {"epoch": 2, "grad_norm": 0.25, "grad_norm_max": 0.5, "clip_fraction": 0.0},
    ]
    return {"cell": "gru", "clip_norm": clip_norm, "epochs": epochs}


def test_table_with_clipping() -> None:
    lines = training_table("m:3", record(1.0))

    assert lines[0] == "m:3 (gru), clip threshold 1.0"
    assert lines[2].split() == ["1", "0.5", "2", "25.0%"]
    assert lines[3].split() == ["2", "0.25", "0.5", "0.0%"]


def test_table_without_clipping_says_off() -> None:
    lines = training_table("m:3", record(None))

    assert lines[0] == "m:3 (gru), clipping off"
    assert lines[2].split() == ["1", "0.5", "2", "off"]
    assert "None" not in "\n".join(lines)
