"""The objects that serve forecasts, gathered for the forecast route."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from service.batching import MicroBatcher
from service.inference import ModelCache
from service.resolution import VersionResolver
from service.settings import Settings


@dataclass(frozen=True)
class Serving:
    """Settings, version resolver, model cache, inference pool and batcher of
    one app, stored as ``app.state.serving`` by the lifespan."""

    settings: Settings
    resolver: VersionResolver
    cache: ModelCache
    executor: Executor
    batcher: MicroBatcher
