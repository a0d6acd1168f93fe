"""Which fields of a synthetic data spec each generator uses, and the check
that rejects a field that a client set for a generator that ignores it."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

from models.data.synthetic import GENERATORS, generate
from models.errors import InvalidInputError
from models.generator_fields import (
    FIELDS_USED,
    OPTIONAL_FIELDS,
    check_generator_fields,
    unused_fields,
)
from models.spec import GeneratorName, SyntheticData

# a value other than the default, for each optional field
CHANGED = {"seed": 7, "noise": 0.3, "period": 30.0, "phi": 0.5, "level": 5.0}


def test_every_generator_listed() -> None:
    assert set(FIELDS_USED) == set(GENERATORS)
    assert set(FIELDS_USED) == set(get_args(GeneratorName))
    assert set(CHANGED) == set(OPTIONAL_FIELDS)


@pytest.mark.parametrize("generator", sorted(GENERATORS))
@pytest.mark.parametrize("field", OPTIONAL_FIELDS)
def test_fields_used_match_generator(generator: str, field: str) -> None:
    """A field is listed for a generator exactly when changing it changes
    the generated series."""
    default = SyntheticData(generator=generator, length=200)
    changed = SyntheticData(generator=generator, length=200, **{field: CHANGED[field]})

    differs = not np.array_equal(
        generate(default).frame["close"].to_numpy(),
        generate(changed).frame["close"].to_numpy(),
    )

    assert differs == (field in FIELDS_USED[generator])


def rejection(fields: dict[str, object], path: str = "") -> InvalidInputError:
    """Return the error of ``check_generator_fields`` for a spec read from
    ``fields``, after checking that it raised one."""
    data = SyntheticData.model_validate(fields)

    with pytest.raises(InvalidInputError) as caught:
        check_generator_fields(data, path=path)

    return caught.value


def test_unused_field_rejected() -> None:
    error = rejection({"generator": "sine", "noise": 0.5})

    assert error.field == "data.noise"
    assert error.message == (
        "data.noise is not used by generator 'sine', which uses data.length, "
        "data.period and data.level; remove it or choose a generator that uses "
        "it: 'noisy_sine', 'trend_seasonal', 'ar1', 'random_walk' or "
        "'mackey_glass'"
    )


def test_unused_fields_named_together() -> None:
    fields = {"generator": "sine", "phi": 0.3, "noise": 0.5, "level": 2.0}

    error = rejection(fields, path="base.")

    assert error.field == "base.data.noise"
    assert error.message == (
        "data.noise and data.phi are not used by generator 'sine', which uses "
        "data.length, data.period and data.level; remove them or choose a "
        "generator that uses them: 'ar1'"
    )


def test_no_generator_uses_all_fields() -> None:
    error = rejection({"generator": "random_walk", "period": 20.0, "phi": 0.3})

    assert error.field == "data.period"
    assert error.message.endswith("data.seed, data.noise and data.level; remove them")


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_defaults_never_rejected(generator: str) -> None:
    data = SyntheticData.model_validate({"generator": generator, "length": 100})

    assert unused_fields(data) == []
    check_generator_fields(data)


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_used_fields_accepted(generator: str) -> None:
    fields = {
        field: CHANGED[field] for field in FIELDS_USED[generator] if field in CHANGED
    }
    data = SyntheticData.model_validate({"generator": generator, **fields})

    check_generator_fields(data)


def test_stored_dump_sent_again() -> None:
    """A stored dump sets every field, the unused ones at their defaults, and
    passes the check as it is."""
    stored = SyntheticData(generator="sine").model_dump(mode="json")

    loaded = SyntheticData.model_validate(stored)

    assert loaded.model_fields_set >= {"seed", "noise", "phi"}
    assert unused_fields(loaded) == []
    check_generator_fields(loaded)


def test_stored_dump_changed_field_rejected() -> None:
    stored = SyntheticData(generator="sine").model_dump(mode="json")

    loaded = SyntheticData.model_validate({**stored, "phi": 0.5})

    assert unused_fields(loaded) == ["phi"]
