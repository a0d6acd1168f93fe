"""The training spec: its rule for model names and its error messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from models.date_fields import DATE_MESSAGE
from models.errors import InvalidInputError
from models.names import NAME_PATTERN, suggest_name
from models.pipeline import train_and_register
from models.registry import Registry
from models.spec import (
    DATA_SOURCES,
    DataSpec,
    SyntheticData,
    TrainingSpec,
    check_model_name,
)
from models.tuning import TuningSpec

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
        "own; set name"
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


NAME_RULE = (
    "A name may contain only lowercase letters, digits, '_' and '-', must start "
    "with a letter or digit and may have at most 64 characters."
)


@pytest.mark.parametrize(
    ("name", "example"),
    [
        ("My Model", "my-model"),
        ("nflx.v2", "nflx-v2"),
        ("-gru", "gru"),
        ("x" * 65, "x" * 64),
        ("!!!", "my-model"),
    ],
)
def test_bad_name_rule_in_words(name: str, example: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TrainingSpec(name=name)

    (error,) = caught.value.errors()
    assert error["loc"] == ("name",)
    assert error["type"] == "string_pattern_mismatch"
    assert (
        error["msg"]
        == f"{name!r} is invalid. {NAME_RULE} Use a name such as {example!r}."
    )


def test_suggested_name_is_valid() -> None:
    for name in ["My Model", "nflx.v2", "_x_", "Ünïcode", "a" * 100, "9"]:
        TrainingSpec(name=suggest_name(name))


def test_name_schema_keeps_pattern() -> None:
    schema = TrainingSpec.model_json_schema()["properties"]["name"]

    assert schema["pattern"] == NAME_PATTERN


@pytest.mark.parametrize("field", ["name", "study_name"])
def test_tuning_names_rule_in_words(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TuningSpec.model_validate({field: "Study 1"})

    (error,) = caught.value.errors()
    assert error["loc"] == (field,)
    assert error["msg"].startswith(f"'Study 1' is invalid. {NAME_RULE}")


def test_registry_name_rule_in_words(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        Registry(tmp_path).versions("NFLX")

    assert caught.value.field == "name"
    assert caught.value.message == (
        f"model name 'NFLX' is invalid. {NAME_RULE} Use a name such as 'nflx'."
    )


ALL_SOURCES = "'bundled', 'csv', 'yfinance', 'synthetic' or 'upload'"


def test_data_sources_match_union() -> None:
    members = get_args(get_args(DataSpec)[0])

    assert [member.model_fields["source"].default for member in members] == list(
        DATA_SOURCES
    )


@pytest.mark.parametrize("data", [{}, {"source": None}, {"column": "close"}])
def test_missing_source_is_required(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as caught:
        TrainingSpec.model_validate({"data": data})

    (error,) = caught.value.errors()
    assert error["loc"] == ("data", "source")
    assert error["type"] == "missing"
    assert error["msg"] == (
        f"Field required: a data spec needs a source, one of {ALL_SOURCES}"
    )


@pytest.mark.parametrize(
    ("source", "shown"),
    [("nope", "'nope'"), (5, "5"), ("{expected_sources}", "'{expected_sources}'")],
)
def test_unknown_source_lists_sources(source: object, shown: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TrainingSpec.model_validate({"data": {"source": source}})

    (error,) = caught.value.errors()
    assert error["loc"] == ("data", "source")
    assert error["type"] == "union_tag_invalid"
    assert error["input"] == source
    assert error["msg"] == f"{shown} is not a data source; use one of {ALL_SOURCES}"


def test_source_member_errors_unchanged() -> None:
    with pytest.raises(ValidationError) as caught:
        TrainingSpec.model_validate({"data": {"source": "csv"}})

    (error,) = caught.value.errors()
    assert error["loc"] == ("data", "csv", "path")
    assert error["type"] == "missing"


def integer_error(fields: dict[str, object], loc: tuple[str, ...]) -> str:
    """Return the message of the one error of ``fields``, after checking
    that it is an ``int_type`` error at ``loc``."""
    with pytest.raises(ValidationError) as caught:
        TrainingSpec.model_validate(fields)

    (error,) = caught.value.errors()
    assert error["loc"] == loc
    assert error["type"] == "int_type"
    return str(error["msg"])


@pytest.mark.parametrize(
    ("fields", "loc", "message"),
    [
        (
            {"hidden_size": 64.0},
            ("hidden_size",),
            "not 64.0; send a whole number such as 64",
        ),
        ({"epochs": 1e1}, ("epochs",), "not 10.0; send a whole number such as 10"),
        ({"patience": 2.5}, ("patience",), "not 2.5; send a whole number such as 2"),
        (
            {"data": {"source": "synthetic", "length": 1e300}},
            ("data", "synthetic", "length"),
            "not 1e+300; send a whole number such as 64",
        ),
    ],
)
def test_float_rejected_for_integer(
    fields: dict[str, object], loc: tuple[str, ...], message: str
) -> None:
    assert integer_error(fields, loc) == (
        f"Input should be an integer without a decimal point or exponent, {message}"
    )


@pytest.mark.parametrize(
    ("fields", "loc", "reason"),
    [
        (
            {"seed": float("nan")},
            ("seed",),
            "the value sent is NaN, which is not a number that JSON allows",
        ),
        (
            {"data": {"source": "synthetic", "length": float("inf")}},
            ("data", "synthetic", "length"),
            "the value sent is Infinity, which is not finite (JSON has no "
            "Infinity, and a number beyond about 1.8e308 reads as Infinity)",
        ),
    ],
)
def test_non_finite_rejected_for_integer(
    fields: dict[str, object], loc: tuple[str, ...], reason: str
) -> None:
    assert integer_error(fields, loc) == (
        f"Input should be an integer, but {reason}; send a whole number such as 64"
    )


def test_json_integer_accepted() -> None:
    spec = TrainingSpec.model_validate_json('{"hidden_size": 32, "patience": 3}')

    assert spec.hidden_size == 32
    assert spec.patience == 3


@pytest.mark.parametrize("field", ["seed", "learning_rate", "cell", "data"])
def test_null_for_defaulted_field_says_leave_out(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TrainingSpec.model_validate({field: None})

    (error,) = caught.value.errors()
    assert error["loc"] == (field,)
    assert error["msg"].endswith(f", not null; leave {field} out to use its default")


def test_null_patience_still_turns_stopping_off() -> None:
    assert TrainingSpec.model_validate({"patience": None}).patience is None


@pytest.mark.parametrize("source", ["upload", "csv"])
def test_value_column_points_to_close(source: str) -> None:
    data = {"source": source, "column": "value"}
    data |= {"series_id": "a" * 32} if source == "upload" else {"path": "v.csv"}

    with pytest.raises(ValidationError) as caught:
        TrainingSpec.model_validate({"name": "v", "data": data})

    (error,) = caught.value.errors()
    assert error["loc"] == ("data", source, "column")
    assert error["type"] == "value_column"
    assert error["msg"] == (
        "column 'value' names the values of a date,value CSV, which training "
        "reads as the column 'close'; send 'close' or leave column out"
    )


@pytest.mark.parametrize("field", ["start", "end"])
@pytest.mark.parametrize("value", [1577836800, "2020-01-01T00:00:00Z", "20200101"])
def test_yfinance_date_not_iso_rejected(field: str, value: object) -> None:
    # a number would otherwise be read as seconds since 1970
    data = {"source": "yfinance", "ticker": "NFLX", field: value}

    with pytest.raises(ValidationError) as caught:
        TrainingSpec.model_validate_json(json.dumps({"name": "x", "data": data}))

    [error] = caught.value.errors()
    assert error["loc"][-1] == field
    assert error["msg"] == DATE_MESSAGE
