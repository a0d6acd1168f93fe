"""Gradient diagnostics over real HTTP against a uvicorn subprocess."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import LiveServer

FLOW = "/v1/diagnostics/gradient-flow"
PROBLEM = "application/problem+json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCALAR = {"cell": "rnn", "hidden_size": 1, "activation": "identity", "seq_len": 21}


@pytest.mark.parametrize(
    ("radius", "ten_steps", "twenty_steps"),
    [(0.5, 0.0009765625, 9.5367431640625e-07), (1.5, 57.6650390625, 3325.2567300796)],
)
def test_scalar_demonstration(
    live_server: LiveServer, radius: float, ten_steps: float, twenty_steps: float
) -> None:
    response = live_server.client.post(FLOW, json={**SCALAR, "spectral_radius": radius})

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    norms = response.json()["grad_norms"]
    assert len(norms) == 21
    assert abs(norms[-11] / norms[-1] / ten_steps - 1) < 1e-6
    assert abs(norms[0] / norms[-1] / twenty_steps - 1) < 1e-6
    assert abs(norms[-11] / norms[-1] / radius**10 - 1) < 1e-6
    assert abs(norms[0] / norms[-1] / radius**20 - 1) < 1e-6


def test_flow_response_fields(live_server: LiveServer) -> None:
    response = live_server.client.post(
        FLOW, json={"cell": "lstm", "hidden_size": 8, "seq_len": 30, "clip_norm": 0.01}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cell"] == "lstm"
    assert body["state_size"] == 16
    assert len(body["grad_norms"]) == 30
    assert len(body["cell_grad_norms"]) == 30
    assert len(body["jacobian_norms"]) == 29
    assert body["jacobian_products"][-1] == 1.0
    assert set(body["gate_spectral_radii"]) == {"i", "f", "g", "o"}
    assert body["spectral_radius"] == body["gate_spectral_radii"]["g"]
    assert body["clipping"]["norm_before"] > 0.01
    assert body["clipping"]["norm_after"] <= 0.01 * (1 + 1e-9)
    assert body["input"] == {"source": "noise", "seed": 0, "target": "zeros"}


def test_flow_as_png_by_accept_header(live_server: LiveServer) -> None:
    body = {"cell": "gru", "hidden_size": 8, "seq_len": 40}
    png = live_server.client.post(FLOW, json=body, headers={"Accept": "image/png"})
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(PNG_MAGIC)

    # JSON wins a tie and is the default for */*
    tie = live_server.client.post(
        FLOW, json=body, headers={"Accept": "application/json, image/png"}
    )
    assert tie.headers["content-type"] == "application/json"
    weighted = live_server.client.post(
        FLOW, json=body, headers={"Accept": "application/json;q=0.5, image/*"}
    )
    assert weighted.headers["content-type"] == "image/png"
    anything = live_server.client.post(FLOW, json=body, headers={"Accept": "*/*"})
    assert anything.headers["content-type"] == "application/json"


def test_png_route(live_server: LiveServer) -> None:
    response = live_server.client.post(
        f"{FLOW}.png", json={"cell": "rnn", "hidden_size": 4, "seq_len": 15}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(PNG_MAGIC)


def test_stored_version(live_server: LiveServer) -> None:
    response = live_server.client.post(
        FLOW,
        json={
            "model": {"name": "nflx", "version": "latest"},
            "seq_len": 25,
            "input": {"source": "bundled", "end": "2019-06-28"},
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": "nflx", "version": 1}
    assert body["cell"] == "lstm"
    assert body["init"] == "trained"
    assert body["input"]["end"] == "2019-06-28"
    assert body["input"]["target"] == "next values"
    assert len(body["grad_norms"]) == 25


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"seq_len": 1001}, "seq_len", "RNN_FORECAST_MAX_SEQ_LEN"),
        (
            {"hidden_size": 257},
            "hidden_size",
            "RNN_FORECAST_MAX_DIAGNOSTIC_HIDDEN_SIZE",
        ),
        ({"cell": "gru", "activation": "identity"}, "activation", "only to cell"),
        (
            {"cell": "rnn", "update_bias": 1.0},
            "update_bias",
            "update_bias applies only to cell 'gru', but the cell is 'rnn'",
        ),
        (
            {"update_bias": 1.0},
            "update_bias",
            "but the cell is the default 'rnn'; set cell to 'gru' or remove "
            "update_bias",
        ),
        ({"cell": "gru", "update_bias": 21}, "update_bias", "less than or equal"),
        ({"cell": "cnn"}, "cell", "Input should be"),
        ({"seq_len": 1}, "seq_len", "greater than or equal to 2"),
        ({"spectral_radius": -1}, "spectral_radius", "greater than 0"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
        (
            {"input": {"source": "values", "values": [1.0, "NaN"]}},
            "input.values",
            "",
        ),
        (
            {"model": {"name": "nflx"}, "hidden_size": 4},
            "hidden_size",
            "applies to a fresh network",
        ),
        ({"jacobians": "no"}, "jacobians", 'true or false, not "no"'),
        (
            {"model": {"name": "nflx", "layer": 9}},
            "model.layer",
            "model.layer=9 is out of range: nflx:1 has layers 0..0; send a layer "
            "from 0 to 0, or leave model.layer out for the top layer",
        ),
        ({"jacobians": 0}, "jacobians", "true or false, not 0"),
    ],
)
def test_bad_input_is_problem(
    live_server: LiveServer, body: dict[str, object], field: str, message: str
) -> None:
    response = live_server.client.post(FLOW, json=body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 422
    assert message in problem["detail"]
    assert any(error["field"].startswith(field) for error in problem["errors"])


def test_nan_value_is_one_error(live_server: LiveServer) -> None:
    body = b'{"input": {"source": "values", "values": [1, NaN, 3]}}'
    response = live_server.client.post(
        FLOW, content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    assert errors[0]["field"] == "input.values[1]"
    assert errors[0]["type"] == "finite_number"
    assert "send a finite number" in errors[0]["message"]


def test_unknown_model_is_not_found(live_server: LiveServer) -> None:
    response = live_server.client.post(FLOW, json={"model": {"name": "missing"}})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert "missing" in response.json()["detail"]


def test_overflow_is_problem(live_server: LiveServer) -> None:
    response = live_server.client.post(
        FLOW,
        json={
            "hidden_size": 2,
            "seq_len": 1000,
            "activation": "identity",
            "spectral_radius": 100,
        },
    )
    assert response.status_code == 422
    assert "overflowed float64" in response.json()["detail"]


def test_stored_version_overflow_names_its_fix(live_server: LiveServer) -> None:
    # a stored version takes no spectral_radius or activation, so the fix
    # names only the target
    stored = live_server.client.get("/v1/models/nflx/versions/latest").json()
    horizon = stored["spec"]["horizon"]

    response = live_server.client.post(
        FLOW,
        json={
            "model": {"name": "nflx"},
            "seq_len": 10,
            "target": [1e308] * horizon,
        },
    )

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "the loss overflowed float64; send a target closer to the output"
    )


def test_training_gradients(live_server: LiveServer) -> None:
    response = live_server.client.get("/v1/models/nflx/versions/latest/gradients")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "nflx"
    assert body["version"] == 1
    assert body["clip_norm"] == 1.0
    assert [epoch["epoch"] for epoch in body["epochs"]] == [1, 2]
    first = body["epochs"][0]
    assert first["grad_norm"] > 0
    assert first["grad_norm_max"] >= first["grad_norm"]
    assert 0.0 <= first["clip_fraction"] <= 1.0
    assert set(first["param_grad_norms"]) == {
        "core.weight_ih_l0",
        "core.weight_hh_l0",
        "core.bias_ih_l0",
        "core.bias_hh_l0",
        "head.weight",
        "head.bias",
    }


def test_training_gradients_png_and_errors(live_server: LiveServer) -> None:
    png = live_server.client.get("/v1/models/sine/versions/1/gradients.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(PNG_MAGIC)

    missing = live_server.client.get("/v1/models/nflx/versions/9/gradients")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert "no version 9" in missing.json()["detail"]


def test_diagnostics_leave_forecasts_free(live_server: LiveServer) -> None:
    # Four diagnostics of about a second each, as many as the inference pool
    # has threads, queue on the diagnostics pool. A forecast sent meanwhile
    # must not wait for the first of them to finish.
    heavy = {"cell": "lstm", "hidden_size": 128, "seq_len": 400}
    with ThreadPoolExecutor(max_workers=4) as pool:
        flows = [
            pool.submit(live_server.client.post, FLOW, json=heavy, timeout=120)
            for _ in range(4)
        ]
        time.sleep(0.3)
        forecast = live_server.client.post("/v1/models/nflx/forecast", json={})
        pending = sum(not flow.done() for flow in flows)
        statuses = [flow.result().status_code for flow in flows]

    assert forecast.status_code == 200
    assert pending == 4
    assert statuses == [200, 200, 200, 200]


def test_training_gradients_png_etag(live_server: LiveServer) -> None:
    """A client that has the plot gets 304 without a new rendering."""
    path = "/v1/models/sine/versions/1/gradients.png"
    first = live_server.client.get(path)
    tag = first.headers["etag"]
    again = live_server.client.get(path, headers={"If-None-Match": tag})
    head = live_server.client.head(path, headers={"If-None-Match": tag})
    other = live_server.client.get(
        "/v1/models/nflx/versions/1/gradients.png", headers={"If-None-Match": tag}
    )

    assert tag.startswith('W/"')
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    assert head.status_code == 304
    assert other.status_code == 200
    assert other.headers["etag"] != tag
    assert other.content.startswith(PNG_MAGIC)


@pytest.mark.parametrize("path", [FLOW, FLOW + ".png"])
def test_wide_rows_are_limit_problem(live_server: LiveServer, path: str) -> None:
    body = {
        "cell": "lstm",
        "hidden_size": 256,
        "input": {"source": "values", "values": [[0] * 60_000] * 2},
    }
    response = live_server.client.post(path, json=body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert "60000 features, above the limit of 1000" in problem["detail"]
    assert "RNN_FORECAST_MAX_DIAGNOSTIC_FEATURES" in problem["detail"]
    assert problem["errors"][0]["field"] == "input.values"


LATE_END = {"source": "bundled", "end": "2021-01-04"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (FLOW, {"hidden_size": 4, "seq_len": 10, "input": LATE_END}),
        (FLOW + ".png", {"hidden_size": 4, "seq_len": 10, "input": LATE_END}),
        (FLOW, {"model": {"name": "nflx"}, "seq_len": 10, "input": LATE_END}),
    ],
)
def test_end_after_bundled_data_is_problem(
    live_server: LiveServer, path: str, body: dict[str, object]
) -> None:
    response = live_server.client.post(path, json=body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == ["input.end"]
    assert errors[0]["message"] == (
        "input.end 2021-01-04 is after 2020-12-11, the last date of the bundled "
        "data; use an end on or before 2020-12-11, or leave input.end out to end "
        "the window at the last value"
    )


def test_end_on_last_bundled_date_is_served(live_server: LiveServer) -> None:
    last_end = {"source": "bundled", "end": "2020-12-11"}
    body = {"hidden_size": 4, "seq_len": 10, "input": last_end}

    response = live_server.client.post(FLOW, json=body)

    assert response.status_code == 200, response.text
    assert response.json()["input"]["end"] == "2020-12-11"


@pytest.mark.parametrize(
    ("path", "cell"),
    [(FLOW, "rnn"), (FLOW, "lstm"), (FLOW, "gru"), (FLOW + ".png", "gru")],
)
def test_empty_rows_are_problem(live_server: LiveServer, path: str, cell: str) -> None:
    body = {"cell": cell, "input": {"source": "values", "values": [[], []]}}
    response = live_server.client.post(path, json=body)

    assert response.status_code == 422, response.text
    problem = response.json()
    assert "input.values contains rows of no numbers;" in problem["detail"]
    assert problem["errors"][0]["field"] == "input.values"


def test_missing_source_is_named(live_server: LiveServer) -> None:
    response = live_server.client.post(FLOW, json={"input": {"values": [1, 2]}})

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert errors[0]["field"] == "input.source"
    assert "one of 'noise', 'bundled' or 'values'" in errors[0]["message"]


def test_model_name_alone_is_explained(live_server: LiveServer) -> None:
    response = live_server.client.post(FLOW, json={"model": "nflx"})

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert errors[0]["field"] == "model"
    assert '{"name": "nflx", "version": "latest"}' in errors[0]["message"]


def test_update_bias_is_echoed_and_keeps_gradient(live_server: LiveServer) -> None:
    body = {"cell": "gru", "hidden_size": 8, "seq_len": 40, "jacobians": False}
    plain = live_server.client.post(FLOW, json=body)
    biased = live_server.client.post(FLOW, json={**body, "update_bias": 4})

    assert plain.status_code == 200, plain.text
    assert biased.status_code == 200, biased.text
    assert plain.json()["update_bias"] is None
    assert biased.json()["update_bias"] == 4.0
    kept = biased.json()["summary"]["first_to_last_ratio"]
    assert kept > 100 * plain.json()["summary"]["first_to_last_ratio"]


def test_top_level_layer_points_to_model(live_server: LiveServer) -> None:
    response = live_server.client.post(
        FLOW, json={"model": {"name": "nflx"}, "layer": 0}
    )

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "layer"
    assert error["message"] == (
        "Extra inputs are not permitted; 'layer' belongs in model, so send it "
        "as model.layer"
    )
