"""Checks of the client values of gradient diagnostics."""

from __future__ import annotations

import pytest

from models.errors import InvalidInputError
from models.gradients import GradientFlowSpec, compute_gradient_flow
from models.spec import CellType
from tests.models.torch_threads import one_torch_thread  # noqa: F401

CELLS: list[CellType] = ["rnn", "lstm", "gru"]


def values_spec(cell: CellType, rows: int, features: int, **fields: object) -> dict:
    values = [[0.1 * (i + j) for j in range(features)] for i in range(rows)]
    return {"cell": cell, "input": {"source": "values", "values": values}, **fields}


@pytest.mark.parametrize("cell", CELLS)
def test_empty_rows_name_values(cell: CellType) -> None:
    spec = GradientFlowSpec.model_validate(values_spec(cell, 2, 0))

    with pytest.raises(InvalidInputError) as caught:
        compute_gradient_flow(spec)
    assert caught.value.field == "input.values"
    assert "input.values contains rows of no numbers;" in caught.value.message


def test_ragged_rows_name_widths() -> None:
    spec = GradientFlowSpec.model_validate(
        {"input": {"source": "values", "values": [[0.1, 0.2], [0.3], [0.4, 0.5]]}}
    )

    with pytest.raises(InvalidInputError) as caught:
        compute_gradient_flow(spec)
    assert caught.value.field == "input.values"
    assert "rows have [1, 2] features; send rows of one equal length" in (
        caught.value.message
    )
