"""Sharing lines between receiving processes (docs/behaviour.md, "Several receivers").

With a store that coordinates processes (Redis: :class:`~.._state.leases.LeaseStore`), each
line is read by exactly one process at a time, under a lease with a fencing token. The
cloud feed's thread (``spectrum-recv-lease``) runs one round every third of the lease's
lifetime. A round talks to the store only and returns what changed (:class:`LeaseChanges`);
the feed applies it to its readers:

1. give up (locally) every held line whose lease was not renewed for ``ttl - margin``
   seconds, by this process's own monotonic clock (a long pause, SIGSTOP, a Redis stall);
2. heartbeat in the receivers' registry and get the live receivers;
3. assign the lines to the live receivers evenly: both sorted, line *i* to receiver
   *i mod n*; every receiver computes the same assignment from the same registry;
4. give up held lines now assigned elsewhere: the feed stops their readers, waits
   (bounded) for the events of that line still being handled and writes their cursors
   while the lease is still held, then :meth:`LineLeases.give_up` releases it;
5. renew the leases it keeps (a lease that cannot be renewed was lost: stop reading it);
6. try to take its assigned lines: the lease is free once the previous holder released
   it or let it expire (SIGKILL, a lost host), and the reader resumes from the cursor the
   last holder committed, or from this process's own position when that is further on.
   For a while after an outage (the store unreachable, or this process paused) only the
   lines it held before are taken: the registry forgot every receiver meanwhile, and the
   first one back must not take the others' lines before they heartbeat again. A store
   that lost its data forgot the leases too: a line taken there that this process did not
   hold waits out a full TTL before its events are handed out.

Each holding is a :class:`Tenure`, valid until ``ttl - margin`` after the start of its last
successful renewal. Events are queued with the tenure they were read under, and the
consumer skips (leaves unacknowledged) those whose tenure lapsed, at once: a process woken
from a pause never hands out what it read before, even before this thread has run. The
store lets a taker in only once the lease expired there, a full ``ttl`` after the holder's
last renewal, so the two never hand out the same line's events at the same time.

Cursor commits of a leased line are fenced by its token: a holder paused past its lease
finds its commit refused instead of moving the cursor back. A line dropped for a lapsed
or lost lease keeps its position and its unwritten commits in memory (the engine parks its
ledgers): when this process takes it again (the store came back, or lost its data in a
restart) it goes on from there and writes them under the new token, instead of handling
again what it already handled.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence

import attrs

from .._state.leases import LeaseStore
from .ledger import cursor_source

__all__ = ["LeaseChanges", "LineLeases", "Tenure", "assign", "lease_name", "safety_margin"]

log = logging.getLogger("spectrum_sync.receive")


def lease_name(line_key: str) -> str:
    return f"line:{line_key}"


def safety_margin(ttl: float) -> float:
    """How much sooner than the store a holder considers its lease gone: a fifth of the
    TTL. The local deadline already counts from *before* the renewal was sent (the store
    counts from when it ran it); the margin covers clock-rate differences and leaves a
    missed renewal (a round is every third of the TTL) room to be made up."""
    return ttl / 5


def assign(lines: Sequence[str], receivers: Sequence[str], me: str) -> set[str]:
    """The lines ``me`` should read: both lists sorted, line *i* to receiver *i mod n*
    (``me`` counts as live even when the registry missed its heartbeat)."""
    everyone = sorted(set(receivers) | {me})
    return {key for index, key in enumerate(sorted(lines))
            if everyone[index % len(everyone)] == me}


class Tenure:
    """One holding of a line's lease by this process: its fencing token, and from when
    until when (``time.monotonic()``) this process may hand out the line's events."""

    __slots__ = ("since", "token", "until")

    def __init__(self, token: int, until: float, since: float = 0.0) -> None:
        self.token = token
        self.until = until
        self.since = since

    def valid(self) -> bool:
        """Whether events read under this tenure may be handed out now."""
        return self.since <= time.monotonic() < self.until


@attrs.define
class LeaseChanges:
    """What one lease round changed, for the caller to apply in this order: stop reading
    the ``lost`` lines (lapsed, or taken by another receiver: their events are skipped
    already), stop reading the ``given_up`` lines letting their events in progress commit
    and then :meth:`LineLeases.give_up` each, and read the ``taken`` lines under their
    tenure. A line can be lost and taken again in the same round."""

    taken: list[tuple[str, Tenure]] = attrs.Factory(list)
    given_up: list[str] = attrs.Factory(list)
    lost: list[str] = attrs.Factory(list)


class LineLeases:
    """The lines this process holds; see the module docstring."""

    def __init__(self, store: LeaseStore, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self.margin = safety_margin(ttl)
        self.me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held: dict[str, Tenure] = {}  # line key -> current tenure
        # After an outage (the store, or this process paused) the registry has forgotten
        # the others too: the first receiver back would see itself alone and take every
        # line, re-handling what the others handled but could not commit. For a lease TTL
        # plus the store's call timeout (everyone heartbeats again within it), a receiver
        # back from an outage takes only lines it held before.
        self.grace = ttl + float(getattr(store, "timeout", None) or 0.0)
        self._recovering_until = 0.0
        self._dropped: set[str] = set()  # lines lost or lapsed here, not given away
        self._outage = False
        self._lock = threading.Lock()
        self.last_error: str | None = None

    def _valid_until(self, asked_at: float) -> float:
        return asked_at + self.ttl - self.margin

    def round(self, line_keys: Sequence[str]) -> LeaseChanges:
        """One round over the lines ``line_keys`` (see the module docstring); the changes
        are returned for the caller to apply, also when the store fails midway."""
        changes = LeaseChanges()
        self._drop_lapsed(changes)
        try:
            live = self.store.register_receiver(self.me, self.ttl)
        except Exception as exc:
            self._store_down(exc, changes)
            return changes
        if self._outage:
            self._outage = False
            self._recovering_until = time.monotonic() + self.grace
        mine = assign(line_keys, live, self.me)
        with self._lock:
            held = dict(self.held)
        changes.given_up.extend(sorted(set(held) - mine))
        if self._renew(sorted(set(held) & mine), held, changes):
            self._take(mine, changes)
        return changes

    def lapse(self) -> LeaseChanges:
        """The held lines whose lease was not renewed in time, now lost: a round finds them
        too, but its store calls may stall (the store paused with this process), so the
        caller applies these first."""
        changes = LeaseChanges()
        self._drop_lapsed(changes)
        return changes

    def _renew(self, keys: list[str], held: dict[str, Tenure], changes: LeaseChanges) -> bool:
        """Renew the leases of ``keys``; a lease that cannot be renewed was lost. False when
        the store failed."""
        for key in keys:
            asked_at = time.monotonic()
            try:
                kept = self.store.renew_lease(lease_name(key), self.me, held[key].token,
                                              self.ttl)
                holder = None if kept else self.store.lease_holder(lease_name(key))
            except Exception as exc:
                self._store_down(exc, changes)
                return False
            if kept:
                held[key].until = self._valid_until(asked_at)
                continue
            if holder is None:
                log.info("receive: the lease of line %s expired in the store (a store "
                         "restart, or this process was paused); taking it again", key)
            else:
                log.warning("receive: lost the lease of line %s; receiver %s has it",
                            key, holder)
            self._drop(key, changes, mine_before=holder is None)
        return True

    def _take(self, mine: set[str], changes: LeaseChanges) -> None:
        """Try to take the lines of ``mine`` not held yet (after an outage, for a grace
        period, only those this process held before)."""
        with self._lock:
            still = set(self.held)
        wanted = mine - still
        if time.monotonic() < self._recovering_until:
            wanted &= self._dropped
        for key in sorted(wanted):
            asked_at = time.monotonic()
            try:
                token = self.store.acquire_lease(lease_name(key), self.me, self.ttl)
            except Exception as exc:
                self._store_down(exc, changes)
                return
            if token is None:
                self._dropped.discard(key)  # another holder has it: not ours any more
                continue
            since = self._wait_out(key, asked_at, changes)
            tenure = Tenure(token, self._valid_until(asked_at), since)
            with self._lock:
                self.held[key] = tenure
            self._dropped.discard(key)
            changes.taken.append((key, tenure))
        self.last_error = None

    def _wait_out(self, key: str, asked_at: float, changes: LeaseChanges) -> float:
        """When this process may start handing out a line it just took: at once, unless
        the store knows the lease for less than a TTL (it lost its data, e.g. restarted
        without persistence) and the line was not this process's own before: whoever held
        it may still be handing out its events until its own lease lapses. The readers
        start anyway (a new reader is anchored where it joined); their events wait."""
        if key in self._dropped:
            return 0.0
        try:
            age = self.store.lease_age(lease_name(key))
        except Exception as exc:
            self._store_down(exc, changes)
            age = 0.0  # unknown: the safe answer
        if age is None or age >= self.ttl:
            return 0.0
        log.info("receive: the store has known the lease of line %s for %.1f s only (its "
                 "data was lost?): its events wait until a lease TTL has passed", key, age)
        return asked_at + self.ttl - age

    def _drop_lapsed(self, changes: LeaseChanges) -> None:
        """Stop reading the lines whose lease was not renewed in time (see the module
        docstring); their queued events are already skipped by the consumer."""
        now = time.monotonic()
        with self._lock:
            lapsed = [key for key, tenure in self.held.items() if now >= tenure.until]
        if lapsed:
            self._outage = True
        for key in lapsed:
            log.warning("receive: the lease of line %s was not renewed within %.1f s; "
                        "its events are held back until this process holds it again",
                        key, self.ttl - self.margin)
            self._drop(key, changes)

    def _drop(self, key: str, changes: LeaseChanges, *, mine_before: bool = True) -> None:
        """Stop reading a line whose lease lapsed or was lost (its position is kept);
        ``mine_before``: nobody else held it since, as far as this process knows."""
        with self._lock:
            self.held.pop(key, None)
        if mine_before:
            self._dropped.add(key)
        else:
            self._dropped.discard(key)
        changes.lost.append(key)

    def give_up(self, key: str) -> None:
        """Release the lease of a line given up in a round, once its readers stopped and
        its events in progress committed (under this lease's fence)."""
        with self._lock:
            tenure = self.held.pop(key, None)
        self._dropped.discard(key)
        if tenure is None:
            return
        try:
            self.store.release_lease(lease_name(key), self.me, tenure.token)
        except Exception as exc:
            # It expires on its own; what lapses meanwhile is dropped at the next round.
            self._note_store_error(exc)

    def _store_down(self, exc: BaseException, changes: LeaseChanges) -> None:
        self._note_store_error(exc)
        self._drop_lapsed(changes)

    def _note_store_error(self, exc: BaseException) -> None:
        if self.last_error is None:
            log.warning("receive: cannot coordinate line leases (%s); the lines held so far "
                        "are read until their leases lapse, commits wait", exc)
        self.last_error = str(exc)
        self._outage = True

    def fence(self, cursor_key: str) -> tuple[str, tuple[str, int]] | None:
        """The lease a cursor's commit must be fenced by: ``(lease name, (holder, token))``,
        or None when this process does not hold that line (its commit must wait)."""
        line_key = cursor_source(cursor_key)
        tenure = self.held.get(line_key)
        if tenure is None:
            return None
        return lease_name(line_key), (self.me, tenure.token)

    def holds(self, line_key: str) -> bool:
        return line_key in self.held

    def release(self) -> None:
        """Give every lease up and leave the registry (a clean shutdown: standby receivers
        take the lines over at their next round instead of waiting for expiry)."""
        with self._lock:
            held, self.held = dict(self.held), {}
        for key, tenure in held.items():
            try:
                self.store.release_lease(lease_name(key), self.me, tenure.token)
            except Exception:
                log.debug("receive: releasing the lease of %s failed", key, exc_info=True)
        try:
            self.store.unregister_receiver(self.me)
        except Exception:
            log.debug("receive: leaving the receivers' registry failed", exc_info=True)
