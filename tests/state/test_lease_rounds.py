"""The lease rounds' decisions (spectrum_sync/_receive/leases.py), in milliseconds: a small
in-test lease store with a clock the test moves, and a feed that records what it is told.
The real store and real processes are in tests/state/test_leases.py and tests/scaleout."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import pytest

from spectrum_sync import StateStoreError
from spectrum_sync._receive.leases import LineLeases, Tenure, assign, safety_margin


class Store:
    """Leases and a registry kept in dicts, expiring by ``now`` (moved by the test)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.down = False
        self.leases: dict[str, tuple[str, int, float]] = {}  # name -> holder, fence, expiry
        self.receivers: dict[str, float] = {}
        self.fence = 100
        self.age: float | None = None  # what lease_age answers

    def _check(self) -> None:
        if self.down:
            raise StateStoreError("down", store="test")

    def _lease(self, name: str) -> tuple[str, int, float] | None:
        found = self.leases.get(name)
        if found is not None and found[2] <= self.now:
            del self.leases[name]
            return None
        return found

    def register_receiver(self, receiver_id: str, ttl: float) -> list[str]:
        self._check()
        self.receivers[receiver_id] = self.now + ttl
        return self.live_receivers()

    def unregister_receiver(self, receiver_id: str) -> None:
        self.receivers.pop(receiver_id, None)

    def live_receivers(self) -> list[str]:
        return sorted(r for r, expiry in self.receivers.items() if expiry > self.now)

    def acquire_lease(self, name: str, holder: str, ttl: float) -> int | None:
        self._check()
        current = self._lease(name)
        if current is not None and current[0] != holder:
            return None
        if current is None:
            self.fence += 1
            current = (holder, self.fence, 0.0)
        self.leases[name] = (holder, current[1], self.now + ttl)
        return current[1]

    def renew_lease(self, name: str, holder: str, fence: int, ttl: float) -> bool:
        self._check()
        current = self._lease(name)
        if current is None or current[:2] != (holder, fence):
            return False
        self.leases[name] = (holder, fence, self.now + ttl)
        return True

    def release_lease(self, name: str, holder: str, fence: int) -> bool:
        current = self._lease(name)
        if current is None or current[:2] != (holder, fence):
            return False
        del self.leases[name]
        return True

    def lease_holder(self, name: str) -> str | None:
        self._check()
        current = self._lease(name)
        return None if current is None else current[0]

    def lease_age(self, name: str) -> float | None:
        return self.age

    def set_cursors_fenced(self, cursors: Mapping[str, int],
                           fences: Mapping[str, tuple[str, int]]) -> bool:
        return True


class Feed:
    def __init__(self, *keys: str) -> None:
        self.keys = list(keys)
        self.taken: list[tuple[str, Tenure]] = []
        self.dropped: list[str] = []

    def line_keys(self) -> list[str]:
        return self.keys

    def take_line(self, key: str, tenure: Tenure) -> None:
        self.taken.append((key, tenure))

    def drop_line(self, key: str, *, wait: bool) -> None:
        self.dropped.append(key)


def leases(store: Store, feed: Feed, ttl: float = 10.0) -> LineLeases:
    return LineLeases(store, feed, ttl)  # type: ignore[arg-type]


def test_assignment_is_even_and_the_same_everywhere() -> None:
    lines, receivers = ["c", "a", "b", "d"], ["r2", "r1"]
    assert assign(lines, receivers, "r1") == {"a", "c"}
    assert assign(lines, receivers, "r2") == {"b", "d"}
    assert assign(lines, [], "r1") == set(lines)  # not yet in the registry: counts itself


def test_a_tenure_is_valid_until_ttl_minus_the_margin_after_the_renewal_was_asked() -> None:
    store, feed = Store(), Feed("a")
    coordinator = leases(store, feed, ttl=10.0)
    before = time.monotonic()
    coordinator.round()
    (key, tenure), = feed.taken
    assert key == "a" and tenure.valid()
    assert safety_margin(10.0) == 2.0
    assert before + 8.0 <= tenure.until <= time.monotonic() + 8.0
    tenure.until = time.monotonic() - 0.001
    assert not tenure.valid()


def test_a_lapsed_tenure_drops_the_line_then_takes_it_back_with_its_position() -> None:
    store, feed = Store(), Feed("a")
    coordinator = leases(store, feed)
    coordinator.round()
    (_, tenure), = feed.taken
    tenure.until = time.monotonic() - 0.001  # as after a SIGSTOP longer than the lease
    coordinator.round()
    assert feed.dropped == ["a"]
    # The lease was still ours in the store: taken again (same token), under a new tenure.
    assert len(feed.taken) == 2 and feed.taken[1][1] is not tenure
    assert feed.taken[1][1].token == tenure.token and feed.taken[1][1].valid()


def test_a_lease_gone_from_the_store_is_taken_again_without_blaming_anyone(
    caplog: Any
) -> None:
    store, feed = Store(), Feed("a")
    coordinator = leases(store, feed)
    coordinator.round()
    store.leases.clear()  # Redis restarted without its data
    store.fence = 1000
    with caplog.at_level(logging.INFO, logger="spectrum_sync.receive"):
        coordinator.round()
    assert feed.dropped == ["a"] and feed.taken[-1][1].token == 1001
    assert "expired in the store" in caplog.text and "has it" not in caplog.text


def test_a_line_taken_from_a_store_that_lost_its_data_waits_out_a_ttl() -> None:
    store, feed = Store(), Feed("a", "b")
    coordinator = leases(store, feed, ttl=10.0)
    store.age = 0.5  # the store has known these leases for half a second
    before = time.monotonic()
    coordinator.round()
    tenures = dict(feed.taken)
    for tenure in tenures.values():
        assert not tenure.valid()  # a holder from before the loss may still hand out
        assert before + 9.5 <= tenure.since <= time.monotonic() + 9.5
    # A line this process held itself before the loss is taken back at once.
    coordinator.held["a"].until = time.monotonic() - 0.001
    coordinator.round()
    assert feed.taken[-1][0] == "a" and feed.taken[-1][1].valid()
    unaged, other = Store(), Feed("a")  # no record of the age: nothing to wait for
    leases(unaged, other).round()
    assert other.taken[-1][1].valid()


def test_a_lease_taken_by_another_receiver_says_who(caplog: Any) -> None:
    store, feed = Store(), Feed("a")
    coordinator = leases(store, feed)
    coordinator.round()
    store.leases["line:a"] = ("other", 5000, store.now + 10)
    with caplog.at_level(logging.INFO, logger="spectrum_sync.receive"):
        coordinator.round()
    assert feed.dropped == ["a"] and len(feed.taken) == 1
    assert "receiver other has it" in caplog.text
    # Were the store to lose its data now, taking the line back would wait out a TTL.
    store.leases.clear()
    store.age = 0.1
    coordinator.round()
    assert feed.taken[-1][0] == "a" and not feed.taken[-1][1].valid()


def test_after_an_outage_only_the_lines_held_before_are_taken_for_a_grace_period() -> None:
    store, feed = Store(), Feed("a", "b")
    mine, theirs = leases(store, feed), leases(store, feed)
    mine.me, theirs.me = "r1", "r2"
    mine.round()
    theirs.round()
    mine.round()  # r1 gives "b" back to r2's assignment
    theirs.round()
    assert set(mine.held) == {"a"} and set(theirs.held) == {"b"}
    store.down = True
    for tenure in mine.held.values():
        tenure.until = time.monotonic() - 0.001  # the outage outlasted the lease
    mine.round()
    assert not mine.held
    store.down = False
    store.now += 60  # every lease and registration expired meanwhile
    mine.round()  # back first: it sees itself alone, but takes only its own line
    assert set(mine.held) == {"a"}
    mine._recovering_until = 0.0  # the grace period is over: r2 never came back
    mine.round()
    assert set(mine.held) == {"a", "b"}


def test_a_store_failure_keeps_the_lines_until_their_tenures_lapse() -> None:
    store, feed = Store(), Feed("a")
    coordinator = leases(store, feed)
    coordinator.round()
    store.down = True
    coordinator.round()
    assert coordinator.holds("a") and coordinator.last_error == "down (code=stateStoreError)"
    coordinator.held["a"].until = time.monotonic() - 0.001
    coordinator.round()
    assert not coordinator.holds("a") and feed.dropped == ["a"]


@pytest.mark.parametrize("ttl", [1.0, 10.0, 300.0])
def test_the_margin_leaves_room_for_a_missed_renewal(ttl: float) -> None:
    # Rounds are a third of the TTL apart: one missed renewal must not lapse the lease.
    assert ttl - safety_margin(ttl) > 2 * ttl / 3
