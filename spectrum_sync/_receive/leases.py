"""Sharing lines between receiving processes (docs/behaviour.md, "Several receivers").

With a store that coordinates processes (Redis: :class:`~.._state.leases.LeaseStore`), each
line is read by exactly one process at a time, under a lease with a fencing token. A thread
(``spectrum-recv-lease``) runs one round every third of the lease's lifetime:

1. give up (locally) every held line whose lease was not renewed for ``ttl - margin``
   seconds, by this process's own monotonic clock (a long pause, SIGSTOP, a Redis stall);
2. heartbeat in the receivers' registry and get the live receivers;
3. assign the lines to the live receivers evenly: both sorted, line *i* to receiver
   *i mod n*; every receiver computes the same assignment from the same registry;
4. give up held lines now assigned elsewhere: stop their readers, wait (bounded) for the
   events of that line still being handled, write their cursors, release the lease;
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
from typing import TYPE_CHECKING

from .._state.leases import LeaseStore

if TYPE_CHECKING:
    from .cloud_feed import CloudFeed

__all__ = ["LineLeases", "Tenure", "assign", "lease_name", "safety_margin"]

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


class LineLeases:
    """The lines this process holds; see the module docstring."""

    def __init__(self, store: LeaseStore, feed: CloudFeed, ttl: float) -> None:
        self.store = store
        self.feed = feed
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
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        """One round now (so that a new receiver reads its lines before ``start`` returns),
        then a round every third of the lease's lifetime."""
        self.round()
        self._thread = threading.Thread(target=self._run, name="spectrum-recv-lease",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.ttl / 3):
            try:
                self.round()
            except Exception:  # never let the coordinator die silently
                log.exception("receive: the line lease round failed")

    def _valid_until(self, asked_at: float) -> float:
        return asked_at + self.ttl - self.margin

    def round(self) -> None:
        store, me = self.store, self.me
        self._drop_lapsed()
        try:
            live = store.register_receiver(me, self.ttl)
        except Exception as exc:
            self._store_down(exc)
            return
        now = time.monotonic()
        if self._outage:
            self._outage = False
            self._recovering_until = now + self.grace
        mine = assign(self.feed.line_keys(), live, me)
        with self._lock:
            held = dict(self.held)
        for key in sorted(set(held) - mine):
            self._give_up(key, held[key])
        for key in sorted(set(held) & mine):
            asked_at = time.monotonic()
            try:
                kept = store.renew_lease(lease_name(key), me, held[key].token, self.ttl)
                holder = None if kept else store.lease_holder(lease_name(key))
            except Exception as exc:
                self._store_down(exc)
                return
            if kept:
                held[key].until = self._valid_until(asked_at)
                continue
            if holder is None:
                log.info("receive: the lease of line %s expired in the store (a store "
                         "restart, or this process was paused); taking it again", key)
            else:
                log.warning("receive: lost the lease of line %s; receiver %s has it",
                            key, holder)
            self._drop(key, mine_before=holder is None)
        with self._lock:
            still = set(self.held)
        wanted = mine - still
        if time.monotonic() < self._recovering_until:
            wanted &= self._dropped
        for key in sorted(wanted):
            asked_at = time.monotonic()
            try:
                token = store.acquire_lease(lease_name(key), me, self.ttl)
            except Exception as exc:
                self._store_down(exc)
                return
            if token is None:
                self._dropped.discard(key)  # another holder has it: not ours any more
                continue
            since = self._wait_out(key, asked_at)
            tenure = Tenure(token, self._valid_until(asked_at), since)
            with self._lock:
                self.held[key] = tenure
            self._dropped.discard(key)
            self.feed.take_line(key, tenure)
        self.last_error = None

    def _wait_out(self, key: str, asked_at: float) -> float:
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
            self._store_down(exc)
            age = 0.0  # unknown: the safe answer
        if age is None or age >= self.ttl:
            return 0.0
        log.info("receive: the store has known the lease of line %s for %.1f s only (its "
                 "data was lost?): its events wait until a lease TTL has passed", key, age)
        return asked_at + self.ttl - age

    def _drop_lapsed(self) -> None:
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
            self._drop(key)

    def _drop(self, key: str, *, mine_before: bool = True) -> None:
        """Stop reading a line whose lease lapsed or was lost (its position is kept);
        ``mine_before``: nobody else held it since, as far as this process knows."""
        with self._lock:
            self.held.pop(key, None)
        if mine_before:
            self._dropped.add(key)
        else:
            self._dropped.discard(key)
        self.feed.drop_line(key, wait=False)

    def _give_up(self, key: str, tenure: Tenure) -> None:
        self.feed.drop_line(key, wait=True)  # stop, let in-flight events finish, commit
        with self._lock:
            self.held.pop(key, None)
        self._dropped.discard(key)
        try:
            self.store.release_lease(lease_name(key), self.me, tenure.token)
        except Exception as exc:
            self._store_down(exc)  # it expires on its own

    def _store_down(self, exc: BaseException) -> None:
        if self.last_error is None:
            log.warning("receive: cannot coordinate line leases (%s); the lines held so far "
                        "are read until their leases lapse, commits wait", exc)
        self.last_error = str(exc)
        self._outage = True
        self._drop_lapsed()

    def fence(self, cursor_key: str) -> tuple[str, tuple[str, int]] | None:
        """The lease a cursor's commit must be fenced by: ``(lease name, (holder, token))``,
        or None when this process does not hold that line (its commit must wait)."""
        line_key = cursor_key.rsplit("/", 1)[0]
        tenure = self.held.get(line_key)
        if tenure is None:
            return None
        return lease_name(line_key), (self.me, tenure.token)

    def holds(self, line_key: str) -> bool:
        return line_key in self.held

    def stop(self) -> None:
        """Stop the rounds (the feed stops the readers); ``release()`` after the last
        commit gives the leases up."""
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

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
