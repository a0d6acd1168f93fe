"""A tuning job whose start-up trials or pruning warm-up could never act gets
422 on that field, counting the trials of the study that it resumes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models.registry import Registry
from models.tuning import TuningSpec, run_tuning
from tests.conftest import LiveServer
from tests.service.jobs_support import (
    TRAINING,
    finished,
    start_job_server,
    wait_for_job,
)

SPACE = {"hidden_size": [4, 4], "num_layers": [1, 1], "lookback": [8, 8]}


@pytest.fixture(scope="module")
def tuning_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, Path]]:
    """A job server with an empty registry; returns (server, data folder)."""
    folder = tmp_path_factory.mktemp("tuning-settings")
    empty = folder / "empty-registry"
    empty.mkdir()
    server, _, data_dir = start_job_server(empty, folder)
    yield server, data_dir
    server.stop()


def submit(server: LiveServer, **fields: Any) -> Any:
    params = {"base": TRAINING, "space": SPACE, "register_version": False, **fields}
    return server.client.post("/v1/jobs", json={"kind": "tuning", "params": params})


def test_startup_above_trials_gets_422(
    tuning_server: tuple[LiveServer, Path],
) -> None:
    server, _ = tuning_server

    response = submit(server, trials=2, startup_trials=3)

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "params.startup_trials"
    assert error["message"].startswith(
        "startup_trials=3 is above trials=2, so every trial of this run would be "
        "sampled at random and none could be pruned."
    )
    assert error["message"].endswith(
        "Set startup_trials=2 or less (that value runs a random search), or raise "
        "trials to 4 or more so that TPE samples the last trials"
    )


def test_warmup_of_all_epochs_gets_422(
    tuning_server: tuple[LiveServer, Path],
) -> None:
    server, _ = tuning_server

    response = submit(server, base={**TRAINING, "epochs": 3}, pruning_warmup_epochs=3)

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "params.pruning_warmup_epochs"
    assert error["message"] == (
        "pruning_warmup_epochs=3 leaves no epoch at which a trial can be pruned, "
        "because the median pruner acts from epoch 4 on and each trial trains at "
        "most base.epochs=3; set pruning_warmup_epochs=2 or less, or raise "
        "base.epochs to 4 or more"
    )


def test_resumed_study_trials_count_for_startup(
    tuning_server: tuple[LiveServer, Path], tmp_path: Path
) -> None:
    server, data_dir = tuning_server
    storage = f"sqlite:///{(data_dir / 'optuna.db').resolve()}"
    first = TuningSpec.model_validate(
        {
            "base": TRAINING,
            "space": SPACE,
            "trials": 2,
            "startup_trials": 2,
            "study_name": "resumed",
            "storage": storage,
        }
    )
    run_tuning(first, registry=Registry(tmp_path / "registry"))

    rejected = submit(server, study_name="resumed", trials=1, startup_trials=4)
    accepted = submit(server, study_name="resumed", trials=1, startup_trials=3)

    assert rejected.status_code == 422, rejected.text
    [error] = rejected.json()["errors"]
    assert error["field"] == "params.startup_trials"
    assert error["message"].startswith(
        "startup_trials=4 is above trials=1 plus the 2 finished trials of study "
        "resumed,"
    )
    assert accepted.status_code == 202, accepted.text
    job = wait_for_job(server.client, accepted.json()["href"], finished)
    assert job["status"] == "succeeded", job
    # 2 finished trials and 1 of the job reach its 3 start-up trials
    assert job["result"]["notes"] == []


def test_default_startup_above_trials_noted_in_result(
    tuning_server: tuple[LiveServer, Path],
) -> None:
    server, _ = tuning_server

    response = submit(server, trials=1)

    assert response.status_code == 202, response.text
    job = wait_for_job(server.client, response.json()["href"], finished)
    assert job["status"] == "succeeded", job
    assert job["result"]["notes"] == [
        "startup_trials=5 is above trials=1 plus the 0 completed and pruned "
        f"trials of study job-{job['id']}, so this run samples every trial at "
        "random and prunes none, unless other processes add trials to the "
        "study while it runs. TPE samples the last trial only if they add 5 or "
        "more completed or pruned trials before it starts, and the median "
        "pruner, which counts only completed trials, can prune only if they add "
        "5 or more completed trials. Set startup_trials=1 or less for a random "
        "search, or raise trials to 6 or more so that TPE samples the last "
        "trials"
    ]
