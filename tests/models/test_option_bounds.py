"""Bounds of spec fields read from a model's JSON schema, for the ranges
that command-line errors give."""

from __future__ import annotations

from models.gradients import GradientFlowSpec
from models.option_errors import field_bounds, schema_bounds
from models.spec import TrainingSpec


def test_field_bounds_follow_union_tag() -> None:
    length = field_bounds(TrainingSpec, ("data", "synthetic", "length"))
    phi = field_bounds(TrainingSpec, ("data", "synthetic", "phi"))

    assert length == {"minimum": 50, "maximum": 50000}
    assert phi == {"exclusiveMinimum": -1.0, "exclusiveMaximum": 1.0}


def test_field_bounds_of_top_level_field() -> None:
    for field in ("epochs", "clip_norm", "patience"):
        assert field_bounds(TrainingSpec, (field,)) == schema_bounds(
            TrainingSpec, field
        )
    assert field_bounds(GradientFlowSpec, ("update_bias",)) == {
        "minimum": -20.0,
        "maximum": 20.0,
    }


def test_field_bounds_of_unknown_path_are_empty() -> None:
    assert field_bounds(TrainingSpec, ("data", "nowhere", "length")) == {}
    assert field_bounds(TrainingSpec, ("data", "synthetic", "colour")) == {}
    assert field_bounds(TrainingSpec, ("data", "bundled", "column")) == {}
