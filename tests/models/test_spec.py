"""The training spec's rule for model names."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import InvalidInputError
from models.pipeline import train_and_register
from models.registry import Registry
from models.spec import SyntheticData, TrainingSpec, check_model_name

SYNTHETIC = {"source": "synthetic", "length": 60}


def test_default_name_kept_for_bundled_data() -> None:
    spec = TrainingSpec()
    check_model_name(spec)
    assert spec.name == "nflx"


def test_missing_name_rejected_for_other_data() -> None:
    spec = TrainingSpec.model_validate({"target": "price", "data": SYNTHETIC})

    with pytest.raises(InvalidInputError) as caught:
        check_model_name(spec, field="params.name")

    assert caught.value.field == "params.name"
    assert caught.value.message == (
        "name is missing: the default name nflx is only for the bundled NFLX "
        "data, so a model trained on data.source 'synthetic' needs a name of its "
        "own; set name (--name on the command line)"
    )


def test_explicit_name_accepted_for_other_data() -> None:
    check_model_name(TrainingSpec(name="sine", data=SyntheticData()))
    check_model_name(TrainingSpec(name="nflx", data=SyntheticData()))


def test_name_survives_dump_and_validate() -> None:
    spec = TrainingSpec(name="sine", data=SyntheticData())
    check_model_name(TrainingSpec.model_validate(spec.model_dump(mode="json")))


def test_unnamed_training_writes_nothing(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    spec = TrainingSpec.model_validate({"target": "price", "data": SYNTHETIC})

    with pytest.raises(InvalidInputError, match="name is missing"):
        train_and_register(spec, registry)

    assert registry.names() == []
