"""The model cache and the thread pool that runs torch off the event loop."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import torch

from models.registry import LoadedModel, Registry
from models.version_checks import FORECAST, VersionUse
from service.metadata_paths import MetadataPaths, Stamp, metadata_stamp

logger = logging.getLogger(__name__)

# name, version and LoadedModel.checkpoint
CacheKey = tuple[str, int, str]


class _Seen(NamedTuple):
    """The checkpoint id last loaded for a version number, and the stamp its
    metadata file had before that load."""

    stamp: Stamp
    checkpoint: str


class ModelCache:
    """Bounded LRU cache of loaded versions keyed by (name, version, checkpoint).

    The checkpoint id (``LoadedModel.checkpoint``) is the sha256 of the
    version's ``metadata.json``. A version number that comes back with other
    content, such as a model folder deleted and trained again, is therefore
    another key, and its weights are loaded instead of the cached ones.

    A lookup by number finds the checkpoint id that the last load of that
    number returned, and uses it while the stamp (inode, mtime, ctime and
    size) of ``metadata.json`` is unchanged since then. That costs one
    ``os.stat`` and no file read. A changed or missing file is a miss, and
    ``get`` loads the version again. A version written after start-up is
    loaded on first use.

    NOTE: a metadata file replaced by one of the same size, under the same
    inode and within one tick of the file system's timestamp clock keeps its
    stamp, so the old checkpoint would still be served. Training a version
    takes far longer than that tick.
    """

    def __init__(self, registry: Registry, max_size: int) -> None:
        self.registry = registry
        self.max_size = max_size
        self._metadata_paths = MetadataPaths(os.fspath(registry.root))
        self._items: OrderedDict[CacheKey, LoadedModel] = OrderedDict()
        self._seen: dict[tuple[str, int], _Seen] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def peek(
        self, name: str, version: int, stamp: Stamp | None = None
    ) -> LoadedModel | None:
        """Return the cached checkpoint of ``name:version`` if its metadata
        file is unchanged since it was loaded, else None. Stats one file and
        reads none; ``stamp``, the file's stamp that the caller has just
        read (``VersionResolver.resolve_stamped``), saves that ``stat``."""
        seen = self._seen.get((name, version))
        if seen is None:
            return None
        if stamp is None:
            stamp = metadata_stamp(self._metadata_path(name, version))
        if stamp != seen.stamp:
            self._forget(name, version, seen)
            return None

        key = (name, version, seen.checkpoint)
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

        # stamped before loading, so a file replaced during the load fails
        # the next peek and is loaded again
        stamp = metadata_stamp(self._metadata_path(name, version))
        loaded = self.registry.load(name, version, use)
        key = (name, version, loaded.checkpoint)
        with self._lock:
            self.misses += 1
            previous = self._seen.get((name, version))
            if previous is not None and previous.checkpoint != loaded.checkpoint:
                self._items.pop((name, version, previous.checkpoint), None)
            self._seen[(name, version)] = _Seen(stamp, loaded.checkpoint)
            loaded = self._items.setdefault(key, loaded)
            self._items.move_to_end(key)
            while len(self._items) > self.max_size:
                evicted, _ = self._items.popitem(last=False)
                self._drop_seen(evicted)
                logger.info("evicted %s:%d from the model cache", *evicted[:2])
        return loaded

    def __len__(self) -> int:
        return len(self._items)

    def _metadata_path(self, name: str, version: int) -> str:
        return self._metadata_paths.get(name, version)

    def _forget(self, name: str, version: int, seen: _Seen) -> None:
        """Drop the checkpoint that ``seen`` names, because its metadata file
        changed or is gone."""
        with self._lock:
            if self._seen.get((name, version)) is not seen:
                return
            del self._seen[(name, version)]
            self._items.pop((name, version, seen.checkpoint), None)
        logger.info("%s:%d changed on disk; it is loaded again on use", name, version)

    def _drop_seen(self, key: CacheKey) -> None:
        """Forget the stamp of an evicted checkpoint; call with the lock held."""
        name, version, checkpoint = key
        seen = self._seen.get((name, version))
        if seen is not None and seen.checkpoint == checkpoint:
            del self._seen[(name, version)]


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
