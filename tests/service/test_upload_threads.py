"""Series uploads are parsed on a thread of the upload pool, so that a large
CSV does not stall the event loop and the requests it serves meanwhile."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.deps import get_settings, get_upload_parsing
from service.routes import series as series_routes
from service.settings import Settings
from service.upload_parsing import UploadParsing
from tests.service.test_series import CSV, yahoo_tail


def test_upload_parsed_off_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(registry=tmp_path / "registry", data_dir=tmp_path / "data")
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    parsing = UploadParsing(workers=1)
    app.dependency_overrides[get_upload_parsing] = lambda: parsing
    parsing_threads: list[threading.Thread] = []
    save_series = series_routes.save_series

    def recording_save(*args: Any, **kwargs: Any) -> dict[str, Any]:
        parsing_threads.append(threading.current_thread())
        return save_series(*args, **kwargs)

    monkeypatch.setattr(series_routes, "save_series", recording_save)

    async def upload() -> tuple[httpx.Response, threading.Thread]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            response = await c.post("/v1/series", content=yahoo_tail(50), headers=CSV)
        return response, threading.current_thread()

    try:
        response, loop_thread = asyncio.run(upload())
    finally:
        parsing.close()

    assert response.status_code == 201, response.text
    assert len(parsing_threads) == 1
    assert parsing_threads[0] is not loop_thread
    assert parsing_threads[0].name.startswith("upload")
    assert (tmp_path / "data" / "series" / f"{response.json()['id']}.csv").is_file()
