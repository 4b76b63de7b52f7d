"""Final suggestions for identical contexts: an in-memory LRU backed by a bounded on-disk store."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class CacheStats:
    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        total = self.memory_hits + self.disk_hits + self.misses
        return {
            "memory_hits": self.memory_hits,
            "disk_hits": self.disk_hits,
            "misses": self.misses,
            "hit_rate": round((self.memory_hits + self.disk_hits) / total, 3) if total else None,
            "error": self.errors[-1] if self.errors else "",
        }


class CompletionCache:
    """Final suggestions for identical contexts: an in-memory LRU, backed by a bounded diskcache store.

    The key covers everything the answer depends on (model, prompt tokens, post-processing context,
    plan), so a hit is exactly what a new generation (greedy) would return. If the directory cannot be
    used, the disk layer is disabled with a warning and the memory layer goes on.
    """

    def __init__(self, directory: str | None, memory_items: int = 512, disk_bytes: int = 64 * 2**20) -> None:
        self.stats = CacheStats()
        self._memory: OrderedDict[str, list[str]] = OrderedDict()
        self._memory_items = memory_items
        self._lock = threading.Lock()
        self._disk: Any = None
        if directory:
            try:
                import diskcache

                Path(directory).mkdir(parents=True, exist_ok=True)
                self._disk = diskcache.Cache(directory, size_limit=disk_bytes)
                self._disk.set("_probe", 1)
            except Exception as exc:
                self._disk_failed(f"completion cache on disk disabled: cannot use {directory}: {exc}")

    def _disk_failed(self, message: str) -> None:
        self.stats.errors.append(message)
        log.warning("%s", message)
        self._disk = None

    @staticmethod
    def key(*parts: Any) -> str:
        h = hashlib.blake2b(digest_size=20)
        for p in parts:
            h.update(repr(p).encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
        return h.hexdigest()

    def get(self, key: str) -> list[str] | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                self.stats.memory_hits += 1
                return list(self._memory[key])
        if self._disk is not None:
            try:
                value = self._disk.get(key)
            except Exception as exc:
                self._disk_failed(f"completion cache on disk disabled: {exc}")
                value = None
            if isinstance(value, list):
                self._remember(key, value)
                self.stats.disk_hits += 1
                return list(value)
        self.stats.misses += 1
        return None

    def put(self, key: str, texts: list[str]) -> None:
        self._remember(key, texts)
        if self._disk is not None:
            try:
                self._disk.set(key, list(texts))
            except Exception as exc:
                self._disk_failed(f"completion cache on disk disabled: {exc}")

    def _remember(self, key: str, texts: list[str]) -> None:
        with self._lock:
            self._memory[key] = list(texts)
            self._memory.move_to_end(key)
            while len(self._memory) > self._memory_items:
                self._memory.popitem(last=False)

    def close(self) -> None:
        if self._disk is not None:
            try:
                self._disk.close()
            except Exception:
                pass
