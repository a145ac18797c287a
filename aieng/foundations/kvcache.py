"""A key-value cache with a time to live (TTL) and least-recently-used (LRU) eviction.

Taught in Month 3 (chapters/03-databases-and-apis); the LLM gateway of Month 11 caches replies with it.

It is the in-process version of what Redis or Memcached do across machines: ``set`` a value with an
expiry, ``get`` it back until it expires, and when the cache is full drop the entry used longest ago
(Redis's ``maxmemory-policy allkeys-lru``). The clock is injectable, so tests move time by hand.

>>> cache = TTLCache(capacity=2, ttl_s=60.0)
>>> cache.set("a", 1); cache.set("b", 2); cache.get("a")
1
>>> cache.set("c", 3)        # full: evicts "b", the least recently used
>>> "b" in cache, cache.get("c")
(False, 3)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

__all__ = ["CacheStats", "TTLCache"]

_MISSING = object()


@dataclass
class CacheStats:
    """Counters since the cache was made: ``hit_rate`` is hits / (hits + misses)."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class TTLCache:
    """At most ``capacity`` entries, each forgotten ``ttl_s`` seconds after it was set.

    Thread-safe (one lock): a server's request threads can share it. ``ttl_s=None`` never expires.
    """

    def __init__(self, capacity: int, ttl_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if ttl_s is not None and ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0 (or None for no expiry), got {ttl_s}")
        self.capacity = capacity
        self.ttl_s = ttl_s
        self.clock = clock
        self.stats = CacheStats()
        self._data: OrderedDict[Hashable, tuple[Any, float]] = OrderedDict()  # key -> (value, expires)
        self._lock = threading.Lock()

    def _live(self, key: Hashable) -> Any:
        """The value if present and not expired (an expired entry is removed); else ``_MISSING``."""
        entry = self._data.get(key)
        if entry is None:
            return _MISSING
        value, expires = entry
        if self.clock() >= expires:
            del self._data[key]
            self.stats.expirations += 1
            return _MISSING
        return value

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value, and mark it most recently used; ``default`` when missing or expired."""
        with self._lock:
            value = self._live(key)
            if value is _MISSING:
                self.stats.misses += 1
                return default
            self._data.move_to_end(key)
            self.stats.hits += 1
            return value

    def set(self, key: Hashable, value: Any, ttl_s: float | None = None) -> None:
        """Store ``value`` for ``ttl_s`` seconds (default: the cache's); evict the LRU entry if full."""
        ttl = self.ttl_s if ttl_s is None else ttl_s
        expires = float("inf") if ttl is None else self.clock() + ttl
        with self._lock:
            self._data[key] = (value, expires)
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)
                self.stats.evictions += 1

    def get_or_set(self, key: Hashable, compute: Callable[[], Any], ttl_s: float | None = None) -> Any:
        """Cache-aside in one call: the cached value, else ``compute()`` stored and returned."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = compute()
            self.set(key, value, ttl_s)
        return value

    def delete(self, key: Hashable) -> bool:
        """Forget ``key`` (invalidate it after a write); True if it was there."""
        with self._lock:
            return self._data.pop(key, None) is not None

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return self._live(key) is not _MISSING

    def __len__(self) -> int:
        """Entries held, expired ones not yet removed included."""
        return len(self._data)

    def __repr__(self) -> str:
        return (f"TTLCache({len(self)}/{self.capacity} entries, ttl_s={self.ttl_s}, "
                f"hit_rate={self.stats.hit_rate:.2f})")
