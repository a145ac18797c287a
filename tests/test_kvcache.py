"""TTLCache: LRU eviction as functools.lru_cache, expiry on an injected clock, bad input refused."""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
import pytest

from aieng.foundations.kvcache import TTLCache


def test_misses_match_functools_lru_cache():
    stream = [int(k) for k in np.random.default_rng(3).zipf(1.3, size=3000) % 300]
    ref_misses = []

    @lru_cache(maxsize=32)
    def f(key):
        ref_misses.append(key)
        return key

    for key in stream:
        f(key)
    cache, ours = TTLCache(32), []
    for key in stream:
        if cache.get(key) is None:
            ours.append(key)
            cache.set(key, key)
    assert ours == ref_misses
    assert cache.stats.misses == len(ours) and cache.stats.hits == len(stream) - len(ours)
    assert len(cache) == 32


def test_expiry_and_per_key_ttl():
    now = [0.0]
    cache = TTLCache(4, ttl_s=10.0, clock=lambda: now[0])
    cache.set("a", 1)
    cache.set("b", 2, ttl_s=1.0)
    now[0] = 1.0
    assert "b" not in cache and cache.get("a") == 1
    now[0] = 10.0
    assert cache.get("a", "gone") == "gone" and cache.stats.expirations == 2


def test_get_or_set_and_delete():
    cache, calls = TTLCache(2), []
    for _ in range(3):
        assert cache.get_or_set("k", lambda: calls.append(1) or 42) == 42
    assert calls == [1]
    assert cache.delete("k") and not cache.delete("k")


@pytest.mark.parametrize("kwargs", [{"capacity": 0}, {"capacity": 2, "ttl_s": 0}, {"capacity": 2, "ttl_s": -1}])
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        TTLCache(**kwargs)


def test_threads_share_it():
    cache = TTLCache(100)

    def work(offset):
        for i in range(2000):
            cache.set((offset, i % 150), i)
            cache.get((offset, (i * 7) % 150))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 100
