"""The command line starts the inference kernel's build in the background
only for the commands that load the kernel, and only while it is on."""

from __future__ import annotations

import pytest

from models import cli
from models.nn import infer_kernel_build


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    calls: list[bool] = []
    monkeypatch.setattr(
        infer_kernel_build, "build_in_background", lambda: calls.append(True)
    )
    monkeypatch.delenv(infer_kernel_build.SWITCH, raising=False)
    return calls


@pytest.mark.parametrize(
    "argv",
    [
        ["serve"],
        ["serve", "--port", "8001"],
        ["--registry", "/tmp/r", "serve"],
        ["--registry=/tmp/r", "serve"],
        ["-h", "serve"],
        ["forecast", "nflx", "--horizon", "3"],
    ],
)
def test_kernel_commands_start_the_build(argv: list[str], starts: list[bool]) -> None:
    started = cli.start_kernel_build(argv)

    assert started is True
    assert starts == [True]


@pytest.mark.parametrize(
    "argv",
    [
        ["train"],
        ["models", "list"],
        ["gradients", "--cell", "lstm"],
        [],
        # the word of a kernel command as an option's value or an argument
        ["train", "--name", "serve"],
        ["models", "show", "forecast"],
        ["--registry", "serve", "train"],
        ["--registry"],
    ],
)
def test_other_commands_start_nothing(argv: list[str], starts: list[bool]) -> None:
    started = cli.start_kernel_build(argv)

    assert started is False
    assert starts == []


def test_switched_off_kernel_starts_nothing(
    monkeypatch: pytest.MonkeyPatch, starts: list[bool]
) -> None:
    monkeypatch.setenv(infer_kernel_build.SWITCH, "off")

    started = cli.start_kernel_build(["serve"])

    assert started is False
    assert starts == []
