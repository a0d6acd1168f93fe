"""The job worker's Celery app with a broker transport option
``visibility_timeout`` that ``inspect conf`` reports as missing or as text,
as the variable ``OPTION_VARIABLE`` selects. ``missing`` removes it before
the worker connects, so kombu's default applies. ``text`` replaces it with
the string ``"60"`` once the worker is ready. The worker's open connections
keep the number, so that worker still runs jobs."""

from __future__ import annotations

import os
from typing import Any

from celery.signals import worker_ready

from service.jobs.celery_app import app

OPTION_VARIABLE = "RNN_FORECAST_TEST_VISIBILITY_OPTION"
MISSING = "missing"
TEXT = "text"

_numeric_options = dict(app.conf.broker_transport_options)
if os.environ.get(OPTION_VARIABLE) == MISSING:
    app.conf.broker_transport_options = {
        key: value
        for key, value in _numeric_options.items()
        if key != "visibility_timeout"
    }


@worker_ready.connect
def _replace_with_text(**_kwargs: Any) -> None:
    if os.environ.get(OPTION_VARIABLE) == TEXT:
        app.conf.broker_transport_options = {
            **_numeric_options,
            "visibility_timeout": "60",
        }
