"""The model cache and the thread pool that runs torch off the event loop."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import torch

from models.registry import LoadedModel, Registry
from models.version_checks import FORECAST, VersionUse

logger = logging.getLogger(__name__)


class ModelCache:
    """Bounded LRU cache of loaded versions keyed by (name, version).

    Versions are immutable, so a cached entry never goes stale; a version
    written after start-up is loaded on first use.
    """

    def __init__(self, registry: Registry, max_size: int) -> None:
        self.registry = registry
        self.max_size = max_size
        self._items: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def peek(self, name: str, version: int) -> LoadedModel | None:
        """Return the loaded version if cached, else None; never reads disk."""
        key = (name, version)
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return item

    def get(self, name: str, version: int, use: VersionUse = FORECAST) -> LoadedModel:
        """Return the loaded version, loading it from disk on a miss. The
        error for a version that cannot be used names ``use``."""
        item = self.peek(name, version)
        if item is not None:
            return item

        loaded = self.registry.load(name, version, use)
        key = (name, version)
        with self._lock:
            self.misses += 1
            self._items[key] = loaded
            self._items.move_to_end(key)
            while len(self._items) > self.max_size:
                evicted, _ = self._items.popitem(last=False)
                logger.info("evicted %s:%d from the model cache", *evicted)
        return loaded

    def __len__(self) -> int:
        return len(self._items)


def make_executor(
    workers: int, torch_threads: int, name: str = "inference"
) -> ThreadPoolExecutor:
    """Thread pool for forward passes; sets torch's intra-op thread count.

    One torch thread per request suits a server: concurrency comes from the
    pool, and more intra-op threads would oversubscribe the cores.
    """
    torch.set_num_threads(torch_threads)
    # OpenMP keeps the thread count per thread, and a new thread starts from
    # the machine's core count, so each pool thread sets it for itself
    executor = ThreadPoolExecutor(
        max_workers=workers,
        thread_name_prefix=name,
        initializer=torch.set_num_threads,
        initargs=(torch_threads,),
    )
    return executor
