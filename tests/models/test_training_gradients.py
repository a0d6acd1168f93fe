"""The per-epoch gradient record of a stored version."""

from __future__ import annotations

import pytest

from models.errors import NotFoundError
from models.registry import Registry
from models.training_gradients import training_gradients


def test_record_has_one_entry_per_epoch(trained_registry: Registry) -> None:
    metadata = trained_registry.metadata("nflx", 1)

    record = training_gradients(metadata)

    assert [e["epoch"] for e in record["epochs"]] == [
        h["epoch"] for h in metadata["history"]
    ]


def test_version_without_history_is_not_found(trained_registry: Registry) -> None:
    metadata = dict(trained_registry.metadata("nflx", 1))
    del metadata["history"]

    with pytest.raises(NotFoundError) as caught:
        training_gradients(metadata)

    assert str(caught.value) == (
        "nflx:1 has no training history in its metadata, so no gradients per "
        "epoch were recorded; train the model again to get a version that has them"
    )
