"""The lease rounds' decisions (spectrum_sync/_receive/leases.py), in milliseconds: a small
in-test lease store with a clock the test moves, and a feed that applies the changes each
round returns and records them.
The real store and real processes are in tests/state/test_leases.py and tests/scaleout."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import pytest

from spectrum_sync import StateStoreError
from spectrum_sync._receive.leases import (
    LeaseChanges,
    LineLeases,
    Tenure,
    assign,
    safety_margin,
)


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
    """Applies rounds as the cloud feed does, recording the lines taken and dropped."""

    def __init__(self, *keys: str) -> None:
        self.keys = list(keys)
        self.taken: list[tuple[str, Tenure]] = []
        self.dropped: list[str] = []

    def round(self, leases: LineLeases) -> LeaseChanges:
        changes = leases.round(self.keys)
        self.dropped += changes.lost
        for key in changes.given_up:
            self.dropped.append(key)
            leases.give_up(key)
        self.taken += changes.taken
        return changes


def leases(store: Store, ttl: float = 10.0) -> LineLeases:
    return LineLeases(store, ttl)  # type: ignore[arg-type]


def test_assignment_is_even_and_the_same_everywhere() -> None:
    lines, receivers = ["c", "a", "b", "d"], ["r2", "r1"]
    assert assign(lines, receivers, "r1") == {"a", "c"}
    assert assign(lines, receivers, "r2") == {"b", "d"}
    assert assign(lines, [], "r1") == set(lines)  # not yet in the registry: counts itself


def test_a_tenure_is_valid_until_ttl_minus_the_margin_after_the_renewal_was_asked() -> None:
    store, feed = Store(), Feed("a")
    coordinator = leases(store, ttl=10.0)
    before = time.monotonic()
    feed.round(coordinator)
    (key, tenure), = feed.taken
    assert key == "a" and tenure.valid()
    assert safety_margin(10.0) == 2.0
    assert before + 8.0 <= tenure.until <= time.monotonic() + 8.0
    tenure.until = time.monotonic() - 0.001
    assert not tenure.valid()


def test_a_lapsed_tenure_drops_the_line_then_takes_it_back_with_its_position() -> None:
    store, feed = Store(), Feed("a")
    coordinator = leases(store)
    feed.round(coordinator)
    (_, tenure), = feed.taken
    tenure.until = time.monotonic() - 0.001  # as after a SIGSTOP longer than the lease
    feed.round(coordinator)
    assert feed.dropped == ["a"]
    # The lease was still ours in the store: taken again (same token), under a new tenure.
    assert len(feed.taken) == 2 and feed.taken[1][1] is not tenure
    assert feed.taken[1][1].token == tenure.token and feed.taken[1][1].valid()


def test_a_lease_gone_from_the_store_is_taken_again_without_blaming_anyone(
    caplog: Any
) -> None:
    store, feed = Store(), Feed("a")
    coordinator = leases(store)
    feed.round(coordinator)
    store.leases.clear()  # Redis restarted without its data
    store.fence = 1000
    with caplog.at_level(logging.INFO, logger="spectrum_sync.receive"):
        feed.round(coordinator)
    assert feed.dropped == ["a"] and feed.taken[-1][1].token == 1001
    assert "expired in the store" in caplog.text and "has it" not in caplog.text


def test_a_line_taken_from_a_store_that_lost_its_data_waits_out_a_ttl() -> None:
    store, feed = Store(), Feed("a", "b")
    coordinator = leases(store, ttl=10.0)
    store.age = 0.5  # the store has known these leases for half a second
    before = time.monotonic()
    feed.round(coordinator)
    tenures = dict(feed.taken)
    for tenure in tenures.values():
        assert not tenure.valid()  # a holder from before the loss may still hand out
        assert before + 9.5 <= tenure.since <= time.monotonic() + 9.5
    # A line this process held itself before the loss is taken back at once.
    coordinator.held["a"].until = time.monotonic() - 0.001
    feed.round(coordinator)
    assert feed.taken[-1][0] == "a" and feed.taken[-1][1].valid()
    unaged, other = Store(), Feed("a")  # no record of the age: nothing to wait for
    other.round(leases(unaged))
    assert other.taken[-1][1].valid()


def test_a_lease_taken_by_another_receiver_says_who(caplog: Any) -> None:
    store, feed = Store(), Feed("a")
    coordinator = leases(store)
    feed.round(coordinator)
    store.leases["line:a"] = ("other", 5000, store.now + 10)
    with caplog.at_level(logging.INFO, logger="spectrum_sync.receive"):
        feed.round(coordinator)
    assert feed.dropped == ["a"] and len(feed.taken) == 1
    assert "receiver other has it" in caplog.text
    # Were the store to lose its data now, taking the line back would wait out a TTL.
    store.leases.clear()
    store.age = 0.1
    feed.round(coordinator)
    assert feed.taken[-1][0] == "a" and not feed.taken[-1][1].valid()


def test_after_an_outage_only_the_lines_held_before_are_taken_for_a_grace_period() -> None:
    store, feed = Store(), Feed("a", "b")
    mine, theirs = leases(store), leases(store)
    mine.me, theirs.me = "r1", "r2"
    feed.round(mine)
    feed.round(theirs)
    feed.round(mine)  # r1 gives "b" back to r2's assignment
    feed.round(theirs)
    assert set(mine.held) == {"a"} and set(theirs.held) == {"b"}
    store.down = True
    for tenure in mine.held.values():
        tenure.until = time.monotonic() - 0.001  # the outage outlasted the lease
    feed.round(mine)
    assert not mine.held
    store.down = False
    store.now += 60  # every lease and registration expired meanwhile
    feed.round(mine)  # back first: it sees itself alone, but takes only its own line
    assert set(mine.held) == {"a"}
    mine._recovering_until = 0.0  # the grace period is over: r2 never came back
    feed.round(mine)
    assert set(mine.held) == {"a", "b"}


def test_a_store_failure_keeps_the_lines_until_their_tenures_lapse() -> None:
    store, feed = Store(), Feed("a")
    coordinator = leases(store)
    feed.round(coordinator)
    store.down = True
    feed.round(coordinator)
    assert coordinator.holds("a") and coordinator.last_error == "down (code=stateStoreError)"
    coordinator.held["a"].until = time.monotonic() - 0.001
    feed.round(coordinator)
    assert not coordinator.holds("a") and feed.dropped == ["a"]


def test_a_round_returns_its_changes_and_touches_no_reader() -> None:
    store = Store()
    mine, theirs = leases(store), leases(store)
    mine.me, theirs.me = "r1", "r2"
    first = mine.round(["a", "b"])
    assert [key for key, _ in first.taken] == ["a", "b"] and not first.given_up + first.lost
    theirs.round(["a", "b"])  # r2 joins the registry, wants "b" (held by r1: not yet)
    second = mine.round(["a", "b"])
    assert second.given_up == ["b"] and not second.taken + second.lost
    # Until the caller says its readers stopped, the line stays held: the commits of its
    # events in progress are still fenced by this lease.
    token = first.taken[1][1].token
    assert mine.holds("b") and mine.fence("b/messages") == ("line:b", ("r1", token))
    assert store.leases["line:b"][0] == "r1"
    mine.give_up("b")
    assert not mine.holds("b") and mine.fence("b/messages") is None
    assert "line:b" not in store.leases
    assert [key for key, _ in theirs.round(["a", "b"]).taken] == ["b"]


def test_a_lapsed_line_is_lost_and_taken_back_in_the_same_round() -> None:
    store = Store()
    coordinator = leases(store)
    (_, tenure), = coordinator.round(["a"]).taken
    tenure.until = time.monotonic() - 0.001
    changes = coordinator.round(["a"])
    assert changes.lost == ["a"] and [key for key, _ in changes.taken] == ["a"]


def test_lapsed_lines_are_known_without_asking_the_store() -> None:
    store = Store()
    coordinator = leases(store)
    (_, tenure), = coordinator.round(["a", "b"]).taken[:1]
    tenure.until = time.monotonic() - 0.001  # woken from a pause; the store may stall too
    store.down = True
    assert coordinator.lapse() == LeaseChanges(lost=["a"])
    assert not coordinator.holds("a") and coordinator.holds("b")
    assert coordinator.last_error is None  # the store was not asked


def test_a_store_failure_midway_returns_the_changes_made_so_far() -> None:
    store = Store()
    coordinator = leases(store)
    (_, tenure), = coordinator.round(["a"]).taken
    store.down = True
    tenure.until = time.monotonic() - 0.001
    changes = coordinator.round(["a"])
    assert changes == LeaseChanges(lost=["a"]) and coordinator.last_error is not None


def test_a_failed_release_after_giving_up_leaves_the_lease_to_expire() -> None:
    store = Store()
    coordinator = leases(store)
    coordinator.round(["a"])
    store.down = True
    store.release_lease = lambda *args: store._check()  # type: ignore[method-assign]
    coordinator.give_up("a")
    assert not coordinator.holds("a") and coordinator.last_error is not None
    assert store.leases["line:a"][0] == coordinator.me  # expires in the store on its own


@pytest.mark.parametrize("ttl", [1.0, 10.0, 300.0])
def test_the_margin_leaves_room_for_a_missed_renewal(ttl: float) -> None:
    # Rounds are a third of the TTL apart: one missed renewal must not lapse the lease.
    assert ttl - safety_margin(ttl) > 2 * ttl / 3
