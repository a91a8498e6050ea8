"""Sharing lines between receiving processes (docs/behaviour.md, "Several receivers").

With a store that coordinates processes (Redis: :class:`~.._state.leases.LeaseStore`), each
line is read by exactly one process at a time, under a lease with a fencing token. A thread
(``spectrum-recv-lease``) runs one round every third of the lease's lifetime:

1. heartbeat in the receivers' registry and get the live receivers;
2. assign the lines to the live receivers evenly: both sorted, line *i* to receiver
   *i mod n*; every receiver computes the same assignment from the same registry;
3. give up held lines now assigned elsewhere: stop their readers, wait (bounded) for the
   events of that line still being handled, write their cursors, release the lease;
4. renew the leases it keeps (a lease that cannot be renewed was lost: stop reading it);
5. try to take its assigned lines: the lease is free once the previous holder released
   it or let it expire (SIGKILL, a lost host), and the reader resumes from the cursor the
   last holder committed.

Cursor commits of a leased line are fenced by its token: a holder paused past its lease
(a long GC, SIGSTOP) finds its commit refused instead of moving the cursor back. When the
store is unreachable, held lines keep being read (nobody can take them meanwhile), commits
wait, and the next rounds sort things out once it is back.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING

from .._state.leases import LeaseStore

if TYPE_CHECKING:
    from .cloud_feed import CloudFeed

__all__ = ["LineLeases", "lease_name"]

log = logging.getLogger("spectrum_sync.receive")


def lease_name(line_key: str) -> str:
    return f"line:{line_key}"


class LineLeases:
    """The lines this process holds; see the module docstring."""

    def __init__(self, store: LeaseStore, feed: CloudFeed, ttl: float) -> None:
        self.store = store
        self.feed = feed
        self.ttl = ttl
        self.me = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held: dict[str, int] = {}  # line key -> fencing token
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

    def round(self) -> None:
        store, me = self.store, self.me
        try:
            live = store.register_receiver(me, self.ttl)
        except Exception as exc:
            self._store_down(exc)
            return
        lines = sorted(self.feed.line_keys())
        receivers = sorted(live) if me in live else sorted([*live, me])
        mine = {key for index, key in enumerate(lines)
                if receivers[index % len(receivers)] == me}
        with self._lock:
            held = dict(self.held)
        for key in sorted(set(held) - mine):
            self._give_up(key, held[key])
        for key in sorted(set(held) & mine):
            try:
                kept = store.renew_lease(lease_name(key), me, held[key], self.ttl)
            except Exception as exc:
                self._store_down(exc)
                return
            if not kept:
                log.warning("receive: lost the lease of line %s; another receiver has it",
                            key)
                with self._lock:
                    self.held.pop(key, None)
                self.feed.drop_line(key, wait=False)
        for key in sorted(mine - set(held)):
            try:
                token = store.acquire_lease(lease_name(key), me, self.ttl)
            except Exception as exc:
                self._store_down(exc)
                return
            if token is not None:
                with self._lock:
                    self.held[key] = token
                self.feed.take_line(key)
        self.last_error = None

    def _give_up(self, key: str, token: int) -> None:
        self.feed.drop_line(key, wait=True)  # stop, let in-flight events finish, commit
        with self._lock:
            self.held.pop(key, None)
        try:
            self.store.release_lease(lease_name(key), self.me, token)
        except Exception as exc:
            self._store_down(exc)  # it expires on its own

    def _store_down(self, exc: BaseException) -> None:
        if self.last_error is None:
            log.warning("receive: cannot coordinate line leases (%s); reading the lines "
                        "held so far, commits wait", exc)
        self.last_error = str(exc)

    def fence(self, cursor_key: str) -> tuple[str, tuple[str, int]] | None:
        """The lease a cursor's commit must be fenced by: ``(lease name, (holder, token))``,
        or None when this process does not hold that line (its commit must not happen)."""
        line_key = cursor_key.rsplit("/", 1)[0]
        token = self.held.get(line_key)
        if token is None:
            return None
        return lease_name(line_key), (self.me, token)

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
        for key, token in held.items():
            try:
                self.store.release_lease(lease_name(key), self.me, token)
            except Exception:
                log.debug("receive: releasing the lease of %s failed", key, exc_info=True)
        try:
            self.store.unregister_receiver(self.me)
        except Exception:
            log.debug("receive: leaving the receivers' registry failed", exc_info=True)
