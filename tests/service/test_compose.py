"""docker-compose.yml without a Docker engine: the file parses, and every
command, health check and ``RNN_FORECAST_*`` variable in it matches a real
entry point, CLI option, route or setting."""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import Any

import click
import pytest
import yaml
from celery.bin.base import CLIContext
from celery.bin.celery import celery as celery_cli

from models.cli import build_parser
from service.app import create_app
from service.jobs.celery_app import app as celery_app
from service.settings import Settings
from tests.conftest import ROOT

SERVICES = {"api", "worker", "redis", "trainer"}
SETTING_RE = re.compile(r"\bRNN_FORECAST_[A-Z0-9_]+\b")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def setting_names() -> set[str]:
    return {f"RNN_FORECAST_{name.upper()}" for name in Settings.model_fields}


def check_rnn_forecast(args: list[str]) -> None:
    """Parse ``rnn-forecast ARGS`` with the real parser (exits on errors)."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert scripts["scripts"]["rnn-forecast"] == "models.entry_point:main"
    parsed = build_parser().parse_args(args)
    assert callable(parsed.handler)


def check_celery(args: list[str]) -> None:
    """Parse ``celery -A MODULE COMMAND ARGS`` with Celery's own click
    commands (raises ``click.UsageError`` on a bad option)."""
    flag, module, command, *rest = args
    assert flag in ("-A", "--app")
    assert module == "service.jobs.celery_app"
    assert command in celery_cli.commands, command
    obj = CLIContext(app=celery_app, no_color=True, workdir=None, quiet=True)
    celery_cli.commands[command].make_context(command, rest, obj=obj)


def check_command(args: list[str]) -> None:
    program, *rest = args
    if program == "rnn-forecast":
        check_rnn_forecast(rest)
    elif program == "celery":
        check_celery(rest)
    else:
        pytest.fail(f"unknown program {program!r} in docker-compose.yml")


def test_compose_has_all_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES
    assert (ROOT / "Dockerfile").is_file()
    for name in SERVICES - {"redis"}:
        service = compose["services"][name]
        assert service["build"] == "."
        assert "data:/data" in service["volumes"]
    assert "data" in compose["volumes"]


def test_compose_commands_are_real(compose: dict[str, Any]) -> None:
    for name in ("api", "worker", "trainer"):
        check_command(compose["services"][name]["command"])


def test_celery_check_rejects_bad_option() -> None:
    with pytest.raises(click.UsageError, match="--bogus"):
        check_celery(["-A", "service.jobs.celery_app", "worker", "--bogus"])


def test_compose_health_checks_are_real(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("api", "worker", "redis"):
        assert "healthcheck" in services[name], name

    api_check = services["api"]["healthcheck"]["test"]
    assert api_check[:3] == ["CMD", "python", "-c"]
    compile(api_check[3], "healthcheck", "exec")
    path = re.search(r"http://127\.0\.0\.1:8000(/[\w/]+)", api_check[3])
    assert path is not None
    assert path.group(1) in create_app().openapi()["paths"]

    kind, shell = services["worker"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    check_command(shlex.split(shell.replace("$$", "$")))

    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_compose_settings_exist(compose: dict[str, Any]) -> None:
    known = setting_names()
    text = (ROOT / "docker-compose.yml").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    used = set(SETTING_RE.findall(text)) | set(SETTING_RE.findall(dockerfile))

    assert used, "docker-compose.yml sets no RNN_FORECAST_* variable"
    assert used - known == set()
    for name in ("api", "worker"):
        env = compose["services"][name]["environment"]
        assert env["RNN_FORECAST_RUNNER"] == "celery"
        assert env["RNN_FORECAST_BROKER_URL"].startswith("redis://redis:6379/")
        Settings.model_validate(
            {key.removeprefix("RNN_FORECAST_").lower(): v for key, v in env.items()}
        )


def test_compose_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker_needs = services["worker"]["depends_on"]
    api_needs = services["api"]["depends_on"]
    assert worker_needs["redis"]["condition"] == "service_healthy"
    assert api_needs["redis"]["condition"] == "service_healthy"
    assert api_needs["trainer"]["condition"] == "service_completed_successfully"
