"""Request paths: a server behind a proxy prefix, control characters and
encoded slashes."""

from __future__ import annotations

import datetime as dt
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from models.cli import main
from models.data.yahoo import cache_file_name
from models.pipeline import train_and_register
from models.registry import Registry
from service.settings import Settings
from tests.conftest import ROOT, LiveServer, tiny_spec
from tests.models.data.test_data_yahoo import write_xetra_cache
from tests.service.jobs_support import (
    LONG,
    finished,
    start_job_server,
    tiny_job,
    wait_for_job,
)
from tests.service.test_series import (
    EARLIER_UPLOAD_CSV,
    EARLIER_UPLOAD_ID,
    EARLIER_UPLOAD_INFO,
    submit_problem,
)

ROOT_PATH = "/rnn"
FORECAST_ROUTE = "/v1/models/{name}/forecast"


@pytest.fixture(scope="module")
def prefixed_job_server(
    trained_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path]]:
    """``rnn-forecast serve`` published under ``/rnn`` by a proxy that strips
    the prefix before forwarding, on a copy of the registry that its jobs may
    write to, and its data folder. Its download cache is ``cache`` beside
    the data folder."""
    folder = tmp_path_factory.mktemp("prefixed")
    server, _, data_dir = start_job_server(
        trained_registry.root,
        folder,
        {
            "RNN_FORECAST_ROOT_PATH": ROOT_PATH,
            "RNN_FORECAST_CACHE_DIR": str(folder / "cache"),
        },
    )
    yield server, data_dir
    server.stop()


@pytest.fixture(scope="module")
def prefixed_server(prefixed_job_server: tuple[LiveServer, Path]) -> LiveServer:
    return prefixed_job_server[0]


def metric(server: LiveServer, name: str, **labels: str) -> float:
    """Return one sample of ``/metrics``, or 0 when it is absent."""
    text = server.client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_forecast_under_root_path(
    prefixed_server: LiveServer, live_server: LiveServer
) -> None:
    """Check that the fast path serves the forecast and counts it under
    its route."""
    labels = {"method": "POST", "route": FORECAST_ROUTE, "status": "200"}
    served_before = metric(
        prefixed_server, "rnn_forecast_forecast_fast_path_total", outcome="served"
    )
    counted_before = metric(
        prefixed_server, "rnn_forecast_http_requests_total", **labels
    )

    body = {"horizon": 3}
    response = prefixed_server.client.post("/v1/models/nflx/forecast", json=body)
    plain = live_server.client.post("/v1/models/nflx/forecast", json=body)

    assert response.status_code == 200, response.text
    assert response.content == plain.content
    served = metric(
        prefixed_server, "rnn_forecast_forecast_fast_path_total", outcome="served"
    )
    counted = metric(prefixed_server, "rnn_forecast_http_requests_total", **labels)
    assert served == served_before + 1
    assert counted == counted_before + 1


def test_root_path_error_route_label(prefixed_server: LiveServer) -> None:
    labels = {"method": "POST", "route": FORECAST_ROUTE, "status": "404"}
    before = metric(prefixed_server, "rnn_forecast_http_requests_total", **labels)

    response = prefixed_server.client.post(
        "/v1/models/no-such-model/forecast", json={"horizon": 1}
    )

    assert response.status_code == 404
    assert "no-such-model" in response.json()["detail"]
    after = metric(prefixed_server, "rnn_forecast_http_requests_total", **labels)
    assert after == before + 1


def test_openapi_servers_root_path(prefixed_server: LiveServer) -> None:
    document = prefixed_server.client.get("/openapi.json").json()

    assert document["servers"] == [{"url": ROOT_PATH}]
    assert FORECAST_ROUTE in document["paths"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/training-jobs", {**LONG, "name": "prefixed"}),
        ("/v1/jobs", {"kind": "train", "params": {**LONG, "name": "prefixed"}}),
    ],
)
def test_job_links_under_root_path(
    prefixed_server: LiveServer, path: str, body: dict[str, Any]
) -> None:
    client = prefixed_server.client

    submitted = client.post(path, json=body)
    job_id = submitted.json()["id"]
    listed = client.get(path, params={"limit": 1}).json()["jobs"]
    client.delete(f"{path}/{job_id}")
    wait_for_job(client, f"{path}/{job_id}", finished)

    link = f"{ROOT_PATH}{path}/{job_id}"
    assert submitted.status_code == 202, submitted.text
    assert submitted.headers["location"] == link
    assert submitted.json()["href"] == link
    assert [job["href"] for job in listed] == [link]


def test_upload_location_under_root_path(prefixed_server: LiveServer) -> None:
    lines = (ROOT / "models" / "data" / "bundled" / "NFLX.csv").read_bytes()
    body = b"\n".join(lines.splitlines()[:200]) + b"\n"

    response = prefixed_server.client.post(
        "/v1/series", content=body, headers={"content-type": "text/csv"}
    )

    assert response.status_code == 201, response.text
    location = f"{ROOT_PATH}/v1/series/{response.json()['id']}"
    assert response.headers["location"] == location


def test_reupload_fix_under_root_path(
    prefixed_job_server: tuple[LiveServer, Path],
) -> None:
    """Check that the fix for an upload that an earlier release stored names
    the series paths with the root path."""
    server, data_dir = prefixed_job_server
    folder = data_dir / "series"
    folder.mkdir(exist_ok=True)
    (folder / f"{EARLIER_UPLOAD_ID}.csv").write_bytes(EARLIER_UPLOAD_CSV)
    (folder / f"{EARLIER_UPLOAD_ID}.json").write_text(json.dumps(EARLIER_UPLOAD_INFO))
    data = {"source": "upload", "series_id": EARLIER_UPLOAD_ID}

    field, detail = submit_problem(
        server.client, "/v1/training-jobs", tiny_job(name="earlier", data=data)
    )
    server.client.delete(f"/v1/series/{EARLIER_UPLOAD_ID}")

    assert field == "data"
    assert detail.endswith(
        f"Correct the file, upload it again with POST {ROOT_PATH}/v1/series and "
        f"use the id that the upload returns. DELETE {ROOT_PATH}/v1/series/"
        f"{EARLIER_UPLOAD_ID} removes the old upload"
    )


def test_missing_upload_under_root_path(prefixed_server: LiveServer) -> None:
    series_id = "0" * 32
    data = {"source": "upload", "series_id": series_id}

    field, detail = submit_problem(
        prefixed_server.client, "/v1/training-jobs", tiny_job(name="gone", data=data)
    )

    assert field == "data.series_id"
    assert detail == (
        f"series {series_id} not found; upload it with POST {ROOT_PATH}/v1/series "
        "and use the id that the upload returns"
    )


def test_series_lookups_under_root_path(prefixed_server: LiveServer) -> None:
    missing = prefixed_server.client.get("/v1/series/" + "0" * 32)
    malformed = prefixed_server.client.get("/v1/series/not-an-id")

    assert missing.status_code == 404
    assert missing.json()["detail"].endswith(
        f"upload it with POST {ROOT_PATH}/v1/series"
    )
    assert malformed.status_code == 404
    assert malformed.json()["detail"].endswith(
        f"as returned by POST {ROOT_PATH}/v1/series"
    )


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"source": "csv", "path": "/tmp/x.csv"},
            "data.source",
            f"upload the series with POST {ROOT_PATH}/v1/series and send",
        ),
        (
            {"source": "upload", "series_id": "x"},
            "data.series_id",
            f"that POST {ROOT_PATH}/v1/series returned, as GET {ROOT_PATH}/v1/"
            "series lists them",
        ),
        (
            {"source": "upload"},
            "data.series_id",
            "series_id, a series id of 32 lowercase hexadecimal digits, as "
            f"POST {ROOT_PATH}/v1/series returns it",
        ),
    ],
)
@pytest.mark.parametrize("path", ["/v1/training-jobs", "/v1/jobs"])
def test_data_errors_under_root_path(
    prefixed_server: LiveServer,
    path: str,
    data: dict[str, Any],
    field: str,
    message: str,
) -> None:
    """Check that the errors of a job's data name the series paths with the
    root path, in a training-job body and in the params of a job."""
    body = tiny_job(name="rooted", data=data)
    if path == "/v1/jobs":
        body, field = {"kind": "train", "params": body}, f"params.{field}"

    response = prefixed_server.client.post(path, json=body)

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert message in error["message"]
    assert " /v1/" not in error["message"]


def run_training_job(server: LiveServer, body: dict[str, Any]) -> dict[str, Any]:
    """Submit the training job ``body`` and return it once it has finished.
    The client sends paths without the root path, as the proxy forwards
    them."""
    submitted = server.client.post("/v1/training-jobs", json=body)
    assert submitted.status_code == 202, submitted.text
    href = f"/v1/training-jobs/{submitted.json()['id']}"
    return wait_for_job(server.client, href, finished)


def test_yfinance_job_error_under_root_path(
    prefixed_job_server: tuple[LiveServer, Path],
) -> None:
    """Check that a job whose cached Yahoo Finance bars fall on no NYSE
    session fails with a fix that names the upload path under the root path.
    The bars come from the cache, so nothing is downloaded."""
    server, data_dir = prefixed_job_server
    write_xetra_cache(data_dir.parent / "cache")
    data = {
        "source": "yfinance",
        "ticker": "SAP.DE",
        "start": "2020-01-16",
        "end": "2020-02-19",
    }

    done = run_training_job(server, tiny_job(name="sap", data=data))

    assert done["status"] == "failed", done
    assert done["error"].startswith("Yahoo Finance data for SAP.DE")
    assert done["error"].endswith(
        f"load that file (csv:PATH on the command line, POST {ROOT_PATH}/v1/series "
        "over HTTP)"
    )


def bars_with_hole(rows: int) -> tuple[bytes, str, str]:
    """Return the header and last ``rows`` rows of the bundled NFLX file
    without the row of 2020-12-03, a session, and the dates of its first
    and last row."""
    lines = (ROOT / "models" / "data" / "bundled" / "NFLX.csv").read_bytes()
    kept = [line for line in lines.splitlines()[-rows:] if b"2020-12-03" not in line]
    header = lines.splitlines()[0]
    body = b"\n".join([header, *kept]) + b"\n"
    return body, kept[0][:10].decode(), kept[-1][:10].decode()


def test_gap_notes_fit_each_source(
    prefixed_job_server: tuple[LiveServer, Path],
) -> None:
    """Check that the note on a skipped NYSE session advises adding rows to
    an uploaded file, and for Yahoo Finance bars, which cannot be edited,
    saving and completing them or changing the range."""
    server, data_dir = prefixed_job_server
    body, first, last = bars_with_hole(200)
    end = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()
    cache_file = data_dir.parent / "cache" / "yfinance"
    cache_file /= cache_file_name("GAPS", first, end)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_bytes(body)
    data = {"source": "yfinance", "ticker": "GAPS", "start": first, "end": end}

    uploaded = server.client.post(
        "/v1/series", content=body, headers={"content-type": "text/csv"}
    )
    done = run_training_job(server, tiny_job(name="gaps", data=data))
    assert done["status"] == "succeeded", done
    version = server.client.get(f"/v1/models/gaps/versions/{done['result']['version']}")

    assert uploaded.status_code == 201, uploaded.text
    upload_note = uploaded.json()["cleaning"][-1]
    assert upload_note.startswith("Found no row on 1 NYSE session")
    assert upload_note.endswith(
        "consecutive sessions. Add rows for the missing sessions to model them."
    )
    yahoo_note = version.json()["data"]["cleaning"][-1]
    assert yahoo_note.startswith("Found no row on 1 NYSE session")
    assert "Yahoo Finance sent no bars on these sessions." in yahoo_note
    assert (
        f"load that file (csv:PATH on the command line, POST {ROOT_PATH}/v1/series "
        "over HTTP)" in yahoo_note
    )
    assert "Add rows" not in yahoo_note


def test_stored_gap_note_gets_served_root_path(
    prefixed_job_server: tuple[LiveServer, Path], tmp_path: Path
) -> None:
    """Check that a version trained without a root path stores its gap note
    without one, as the command line or a Celery worker without
    RNN_FORECAST_ROOT_PATH trains it. The server shows the note's upload
    path under its own root path, in the version and in a backtest's
    result."""
    server, data_dir = prefixed_job_server
    registry = Registry(data_dir.parent / "registry")
    body, first, last = bars_with_hole(200)
    end = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()
    for cache_dir in (tmp_path, data_dir.parent / "cache"):
        cache_file = cache_dir / "yfinance" / cache_file_name("HOLES", first, end)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_bytes(body)
    data = {"source": "yfinance", "ticker": "HOLES", "start": first, "end": end}
    spec = tiny_spec(name="holes", data=data)

    version, _, _ = train_and_register(spec, registry, cache_dir=tmp_path)
    stored = registry.metadata("holes", version)["data"]["cleaning"][-1]
    shown = server.client.get(f"/v1/models/holes/versions/{version}")
    backtest_params = {"training": spec.model_dump(mode="json"), "refit_every": 60}
    submitted = server.client.post(
        "/v1/jobs", json={"kind": "backtest", "params": backtest_params}
    )
    assert submitted.status_code == 202, submitted.text
    # the client sends paths without the root path, as the proxy forwards them
    href = f"/v1/jobs/{submitted.json()['id']}"
    backtest = wait_for_job(server.client, href, finished)

    step = "load that file (csv:PATH on the command line, POST {}/v1/series over HTTP)"
    assert step.format("") in stored
    assert shown.status_code == 200, shown.text
    shown_note = shown.json()["data"]["cleaning"][-1]
    assert shown_note == stored.replace(step.format(""), step.format(ROOT_PATH))
    assert backtest["status"] == "succeeded", backtest
    backtest_note = backtest["result"]["data"]["cleaning"][-1]
    assert step.format(ROOT_PATH) in backtest_note
    listed = server.client.get("/v1/jobs", params={"kind": "backtest"}).json()
    [listed_job] = [job for job in listed["jobs"] if job["id"] == backtest["id"]]
    assert listed_job["result"]["data"]["cleaning"][-1] == backtest_note


def test_cli_gap_note_without_root_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Check that ``rnn-forecast train`` prints the gap note of Yahoo
    Finance bars with the upload path alone, even where the environment
    sets the service's root path."""
    body, first, last = bars_with_hole(200)
    end = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()
    cache_file = tmp_path / "cache" / "yfinance" / cache_file_name("HOLES", first, end)
    cache_file.parent.mkdir(parents=True)
    cache_file.write_bytes(body)
    monkeypatch.setenv("RNN_FORECAST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RNN_FORECAST_ROOT_PATH", ROOT_PATH)
    argv = ["--registry", str(tmp_path / "registry"), "train", "--name", "holes"]
    argv += ["--data", "yfinance:HOLES", "--start", first, "--end", end]
    argv += ["--epochs", "1", "--hidden-size", "4", "--lookback", "10"]

    status = main(argv)

    printed = capsys.readouterr().out
    assert status == 0
    [note] = [line for line in printed.splitlines() if "NYSE session" in line]
    assert note.startswith("cleaning: Found no row on 1 NYSE session")
    assert "POST /v1/series over HTTP" in note
    assert ROOT_PATH not in printed


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("collection", ["/v1/jobs", "/v1/training-jobs"])
def test_malformed_job_id_names_its_route(
    prefixed_server: LiveServer, method: str, collection: str
) -> None:
    """Check that the 404 of a malformed job id names the submission route
    of the job list in the request path, under the root path."""
    response = prefixed_server.client.request(method, f"{collection}/not-a-job")

    assert response.status_code == 404
    assert response.json()["detail"] == (
        "job 'not-a-job' not found; job ids are 32 lowercase hex characters as "
        f"returned by POST {ROOT_PATH}{collection}"
    )


def test_docs_link_under_root_path(prefixed_server: LiveServer) -> None:
    unknown = prefixed_server.client.get("/v1/no-such-route")
    malformed = prefixed_server.client.post(
        "/v1/models/nflx/forecast",
        content=b'{"horizon": ',
        headers={"content-type": "application/json"},
    )

    assert unknown.status_code == 404
    assert unknown.json()["detail"].endswith(f"API reference is at {ROOT_PATH}/docs")
    assert malformed.status_code == 422
    assert f"API reference at {ROOT_PATH}/docs show" in malformed.json()["detail"]


UNSTRIPPED = (
    "because the path starts with the root path /rnn, which the proxy in front "
    "of this server must remove before it forwards a request; remove the prefix "
    "in the proxy, or send the request without it"
)


@pytest.mark.parametrize(
    ("method", "path", "fixed"),
    [
        ("GET", "/rnn/v1/health", "/v1/health"),
        ("POST", "/rnn/v1/models/nflx/forecast", "/v1/models/nflx/forecast"),
        ("GET", "/rnn/v1/health/", "/v1/health"),
        ("GET", "/rnn/docs", "/docs"),
    ],
)
def test_unstripped_prefix_404_names_fix(
    prefixed_server: LiveServer, method: str, path: str, fixed: str
) -> None:
    """Check that a request that reaches the server with the proxy's prefix
    still in its path gets a 404 that shows the path once and the fix."""
    response = prefixed_server.client.request(method, path, json={"horizon": 1})

    assert response.status_code == 404, response.text
    assert response.json()["detail"] == (
        f"no route matches {method} {path}, {UNSTRIPPED}, to {fixed}"
    )


@pytest.mark.parametrize("path", ["/rnn/v1/no-such-route", "/rnn", "/rnn/"])
def test_unstripped_prefix_404_without_route(
    prefixed_server: LiveServer, path: str
) -> None:
    response = prefixed_server.client.get(path)

    assert response.status_code == 404, response.text
    assert response.json()["detail"] == (
        f"no route matches GET {path}, {UNSTRIPPED}; the API reference is at "
        f"{ROOT_PATH}/docs"
    )


@pytest.mark.parametrize(
    "value", ["rnn", "/rnn/", "/a b", "//rnn", "/rnn\n", "/..", "/a/./b", "/rnn/.."]
)
def test_invalid_root_path_rejected(value: str) -> None:
    with pytest.raises(ValidationError, match="RNN_FORECAST_ROOT_PATH") as caught:
        Settings(root_path=value)

    assert "such as /rnn" in str(caught.value)


@pytest.mark.parametrize(
    "value", ["", "/rnn", "/ml/forecast-v1", "/a.b_c~d", "/...", "/.rnn", "/rnn.."]
)
def test_valid_root_path_kept(value: str) -> None:
    assert Settings(root_path=value).root_path == value


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/health%0A"),
        ("GET", "/v1/health%0D%0A"),
        ("GET", "/v1/models%0A"),
        ("POST", "/v1/models/nflx/forecast%0A"),
        ("GET", "/v1/models/nflx%0A"),
    ],
)
def test_trailing_control_character_is_404(
    live_server: LiveServer, method: str, path: str
) -> None:
    """Check that a final newline does not reach the route: route patterns
    end in "$", which also matches before a final newline."""
    response = live_server.client.request(method, path, json={"horizon": 1})

    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "%0A" in response.json()["detail"]


def test_control_character_in_model_name(live_server: LiveServer) -> None:
    response = live_server.client.post(
        "/v1/models/nf%01lx/forecast", json={"horizon": 1}
    )

    assert response.status_code in (404, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"


def send_raw(
    server: LiveServer, method: str, path: str
) -> tuple[http.client.HTTPResponse, bytes]:
    """Send ``path`` byte for byte, as httpx may normalise it, with a JSON
    body on POST and PUT; return the response and its body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    body = b'{"version": 1}' if method in ("POST", "PUT") else None
    try:
        connection.request(
            method, path, body=body, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("PUT", "/v1/models/nflx/aliases/..%2F", "alias"),
        ("PUT", "/v1/models/nflx/aliases/%2e%2e%2f", "alias"),
        ("GET", "/v1/models/nflx/aliases/a%2fb", "alias"),
        ("DELETE", "/v1/models/nflx/aliases/prod%2F", "alias"),
        ("PUT", "/v1/models/nflx%2F/aliases/prod", "name"),
        ("GET", "/v1/models/..%2Fnflx/versions/1", "name"),
        ("GET", "/v1/models/nflx/versions/1%2F", "version"),
        ("GET", "/v1/models/nflx/versions/..%2F/gradients", "version"),
        ("GET", "/v1/models/nflx/versions/latest%2F/gradients.png", "version"),
        ("POST", "/v1/models/nflx%2F/forecast", "name"),
    ],
)
def test_encoded_slash_in_parameter_is_422(
    live_server: LiveServer, method: str, path: str, field: str
) -> None:
    """Check that an encoded slash stays in its segment, so the route
    rejects the value instead of the router redirecting or missing it."""
    response, body = send_raw(live_server, method, path)
    problem = json.loads(body)

    assert response.status == 422, body
    assert response.getheader("content-type") == "application/problem+json"
    assert response.getheader("location") is None
    assert problem["errors"][0]["field"] == field
    assert "%2F" in problem["errors"][0]["message"]
    assert "'_' and '-'" in problem["errors"][0]["message"]


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("GET", "/v1/series/..%2F", "series '..%2F' not found; series ids are"),
        ("DELETE", "/v1/series/a%2Fb", "series 'a%2Fb' not found; series ids are"),
        ("GET", "/v1/jobs/..%2F", "job '..%2F' not found"),
        ("DELETE", "/v1/training-jobs/x%2F", "job 'x%2F' not found"),
        ("GET", "/v1%2Fhealth", "no route matches GET /v1%2Fhealth"),
    ],
)
def test_encoded_slash_in_id_is_404(
    live_server: LiveServer, method: str, path: str, detail: str
) -> None:
    """Check that an id or a path with an encoded slash gets the 404 of any
    other unknown id or path, never a redirect."""
    response, body = send_raw(live_server, method, path)

    assert response.status == 404, body
    assert response.getheader("location") is None
    assert json.loads(body)["detail"].startswith(detail)


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("GET", "/v1/jobs/job-1", "job 'job-1' not found; job ids are 32"),
        ("DELETE", "/v1/jobs/ABCDEF", "job 'ABCDEF' not found; job ids are 32"),
        ("GET", f"/v1/training-jobs/{'a' * 33}", "job ids are 32 lowercase hex"),
        ("DELETE", "/v1/training-jobs/x", "job 'x' not found; job ids are 32"),
        ("GET", "/v1/series/s-1", "series 's-1' not found; series ids are 32"),
        ("DELETE", "/v1/series/S", "series 'S' not found; series ids are 32"),
    ],
)
def test_malformed_id_is_404(
    live_server: LiveServer, method: str, path: str, detail: str
) -> None:
    """Check that an id outside the declared pattern gets a 404 whose
    message gives the form of the ids."""
    response = live_server.client.request(method, path)

    assert response.status_code == 404, response.text
    assert detail in response.json()["detail"]


def test_unknown_job_id_is_404(live_server: LiveServer) -> None:
    response = live_server.client.get(f"/v1/jobs/{'a' * 32}")

    assert response.status_code == 404, response.text
    assert response.json()["detail"] == f"job '{'a' * 32}' not found"


SERIES_ID = "0" * 32


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models/nflx/aliases/prod/"),
        ("PUT", "/v1/models/nflx/aliases/prod/"),
        ("POST", "/v1/models/nflx/forecast/"),
        ("GET", "/v1/health/"),
        ("GET", "/v1/health//"),
        ("GET", "/v1/models/"),
        ("GET", "/v1/models/nflx/versions/1/"),
        ("POST", "/v1/training-jobs/"),
        ("DELETE", f"/v1/series/{SERIES_ID}/"),
        ("GET", "/metrics/"),
        ("GET", "/docs/"),
    ],
)
def test_trailing_slash_is_404_with_fix(
    live_server: LiveServer, method: str, path: str
) -> None:
    """Check that a route's path with a trailing slash gets a 404 that names
    the path without it, and no redirect."""
    response, body = send_raw(live_server, method, path)
    problem = json.loads(body)

    assert response.status == 404, body
    assert response.getheader("content-type") == "application/problem+json"
    assert response.getheader("location") is None
    assert problem["detail"] == (
        f"no route matches {method} {path}, because the paths of the API end "
        f"without a slash; send the request to {path.rstrip('/')}"
    )


@pytest.mark.parametrize("path", ["/v1/", "/", "/v1/models/nflx/aliases/"])
def test_trailing_slash_without_route_has_no_fix(
    live_server: LiveServer, path: str
) -> None:
    response, body = send_raw(live_server, "GET", path)

    assert response.status == 404, body
    assert json.loads(body)["detail"] == (
        f"no route matches GET {path}; the API reference is at /docs"
    )


def test_trailing_slash_fix_under_root_path(prefixed_server: LiveServer) -> None:
    response = prefixed_server.client.get("/v1/health/")

    assert response.status_code == 404, response.text
    assert response.json()["detail"].endswith(
        f"send the request to {ROOT_PATH}/v1/health"
    )
