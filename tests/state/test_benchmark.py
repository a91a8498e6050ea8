"""A figure, not an assertion: what one send's quota bookkeeping (a reserve and an
add_member) costs on a local Redis compared with the memory store."""

from __future__ import annotations

import time

import pytest

from spectrum_sync._state.base import StateStore
from spectrum_sync._state.memory import MemoryStore
from spectrum_sync._state.redis import RedisStore

ROUNDS = 2000


def rate(store: StateStore) -> float:
    """reserve + add_member pairs per second, on one thread."""
    start = time.perf_counter()
    for i in range(ROUNDS):
        store.reserve("quota:messages:+15550001111:2024-01-01", None, 172_800)
        store.add_member("contacted:+15550001111", f"iMessage;-;+1555{i:07d}")
    return ROUNDS / (time.perf_counter() - start)


def test_reserve_and_add_member_rate(redis_store: RedisStore,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    memory = rate(MemoryStore())
    shared = rate(redis_store)
    assert redis_store.get_counter("quota:messages:+15550001111:2024-01-01") == ROUNDS
    with capsys.disabled():
        print(f"\n[state benchmark] reserve+add_member: MemoryStore {memory:,.0f}/s, "
              f"RedisStore (local redis-server, 2 round trips) {shared:,.0f}/s")
