"""The README's table of RNN_FORECAST_* variables against the code.

Every variable that the code reads is in the table, every variable in the
table is read by the code, and a plain default in the table equals the
default of its ``Settings`` field.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "RNN_FORECAST_"

# A whole variable name written in the source, such as RNN_FORECAST_PORT.
# A match ending in "_" is a prefix, such as the f-string "RNN_FORECAST_{name}".
LITERAL = re.compile(r"RNN_FORECAST_[A-Z0-9_]+")
# Names built from the shared prefix, such as f"{ENV_PREFIX}FUSED_GRU".
PREFIXED = re.compile(r"\{ENV_PREFIX\}([A-Z0-9_]+)|_setting\(\"([A-Z0-9_]+)\"\)")
# A table cell that is one literal in backticks, such as `8` or `json`.
PLAIN = re.compile(r"`([^`]*)`")


def _table() -> dict[str, str]:
    """Map each variable of the README's settings table to its default cell.

    A row such as ``| `A` / `B` | `1` / `2` | ... |`` gives A -> `1` and
    B -> `2`.
    """
    rows: dict[str, str] = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith(f"| `{PREFIX}"):
            continue
        names_cell, defaults_cell = (cell.strip() for cell in line.split("|")[1:3])
        names = [name.strip().strip("`") for name in names_cell.split(" / ")]
        defaults = defaults_cell.split(" / ")
        if len(defaults) != len(names):
            defaults = [defaults_cell] * len(names)
        rows.update(zip(names, (item.strip() for item in defaults), strict=True))
    return rows


def _read_in_code() -> set[str]:
    """Return the RNN_FORECAST_* variables that models/ and service/ read."""
    names = {f"{PREFIX}{field.upper()}" for field in Settings.model_fields}
    for package in ("models", "service"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            names.update(m for m in LITERAL.findall(text) if not m.endswith("_"))
            for built, setting in PREFIXED.findall(text):
                names.add(f"{PREFIX}{built or setting}")
    return names


def test_readme_table_lists_every_variable() -> None:
    missing = _read_in_code() - set(_table())
    assert not missing, f"variables read in code but missing from README: {missing}"


def test_readme_table_lists_no_unused_variable() -> None:
    unused = set(_table()) - _read_in_code()
    assert not unused, f"variables in the README that no code reads: {unused}"


def _plain_defaults() -> list[tuple[str, str]]:
    """Return (field, default) for each setting whose README default is one
    literal in backticks, such as `8`, rather than words."""
    table = _table()
    pairs = []
    for field in sorted(Settings.model_fields):
        plain = PLAIN.fullmatch(table.get(f"{PREFIX}{field.upper()}", ""))
        if plain is not None:
            pairs.append((field, plain.group(1)))
    return pairs


def test_readme_plain_defaults_found() -> None:
    # The table gives most defaults as literals, so a parse that finds few
    # of them would let the comparison below check nothing.
    assert len(_plain_defaults()) >= 40


@pytest.mark.parametrize(("field", "written"), _plain_defaults())
def test_readme_default_matches_settings(
    field: str, written: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(f"{PREFIX}{field.upper()}", raising=False)
    default = Settings.model_fields[field].get_default(call_default_factory=True)
    if isinstance(default, Path):
        assert Path(written).expanduser() == default
    elif isinstance(default, (int, float)):
        assert float(written) == default
    else:
        assert written == default
