"""The fused GRU layer's build checks the program of ``CXX``, its first
word, so a wrapper such as ``ccache g++`` passes the check."""

from __future__ import annotations

import pytest

from models.nn import fused_gru_build


def test_wrapper_with_arguments_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "env c++")

    fused_gru_build._check_compiler()


def test_missing_program_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "no-such-wrapper-here g++")

    with pytest.raises(fused_gru_build.BuildError, match="'no-such-wrapper-here'"):
        fused_gru_build._check_compiler()


def test_unbalanced_quote_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "'g++")

    with pytest.raises(fused_gru_build.BuildError, match="cannot be split"):
        fused_gru_build._check_compiler()
