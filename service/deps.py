"""FastAPI dependencies; tests replace them through ``dependency_overrides``.

They are ``async`` because FastAPI runs a plain ``def`` dependency on its
thread pool, a thread hop per dependency and request for an attribute read.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

from fastapi import Depends, Request

from models.registry import Registry
from service.batching import MicroBatcher
from service.diagnostics_queue import DiagnosticsQueue
from service.inference import ModelCache
from service.resolution import VersionResolver
from service.settings import Settings
from service.upload_parsing import UploadParsing


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_registry(request: Request) -> Registry:
    return request.app.state.registry


async def get_cache(request: Request) -> ModelCache:
    return request.app.state.cache


async def get_executor(request: Request) -> ThreadPoolExecutor:
    return request.app.state.executor


async def get_diagnostics_queue(request: Request) -> DiagnosticsQueue:
    return request.app.state.diagnostics_queue


async def get_upload_parsing(request: Request) -> UploadParsing:
    return request.app.state.upload_parsing


async def get_resolver(request: Request) -> VersionResolver:
    return request.app.state.resolver


async def get_batcher(request: Request) -> MicroBatcher:
    return request.app.state.batcher


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
CacheDep = Annotated[ModelCache, Depends(get_cache)]
ExecutorDep = Annotated[ThreadPoolExecutor, Depends(get_executor)]
DiagnosticsQueueDep = Annotated[DiagnosticsQueue, Depends(get_diagnostics_queue)]
UploadParsingDep = Annotated[UploadParsing, Depends(get_upload_parsing)]
ResolverDep = Annotated[VersionResolver, Depends(get_resolver)]
BatcherDep = Annotated[MicroBatcher, Depends(get_batcher)]
