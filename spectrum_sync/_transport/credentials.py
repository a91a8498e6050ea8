"""Keeping cloud tokens fresh: a refresher thread, refresh-before-call, forced refreshes.

:class:`CloudAuth` holds the current :class:`~.token_exchange.Grant`. A daemon thread
(``spectrum-refresh``, started on first use) re-exchanges at 80% of the lifetime; a call that
finds the token within ``min(30 s, 10% of the lifetime)`` of expiry refreshes first
(coalesced: one exchange at a time); failures back off while the old token stays in use until
it has really expired; any UNAUTHENTICATED answer forces a refresh (at most one per 5 s).
Every new grant is handed to a listener (the line set reconciles its lines) after the
exchange lock is released, so a listener may take its time or call back into this object.
See docs/behaviour.md, "Tokens".

The schedule follows a :class:`~spectrum_sync._clock.Clock` (real time by default); the
refresher waits on it, so that under a test clock it wakes when the test advances the clock
(docs/architecture.md, "Time in tests").
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import Callable, Protocol

from .._backoff import jittered
from .._clock import SYSTEM, Clock
from .._errors import ClientClosed, CloudError, ConnectionError, SpectrumError
from .._fork import ForkGuard, background_thread
from .._logfields import fields
from .token_exchange import Grant

__all__ = ["CloudAuth", "Credentials"]

log = logging.getLogger("spectrum_sync.auth")

FORCED_REFRESH_INTERVAL = 5.0  # between two forced refreshes
EXCHANGE_DEBOUNCE = 1.0  # a forced refresh right after any exchange is pointless
REFRESH_MARGIN = 30.0  # a call within this of expiry refreshes first
PARK_WAIT = 1.0  # at most this long for a new refresher to reach its first wait
RETRY_BASE, RETRY_CAP = 0.5, 30.0  # backoff of failed background refreshes


class Credentials(Protocol):
    """What the call path needs from a token source."""

    refresh_due: float
    """``time.monotonic()`` from which a call must refresh the token first (read without a
    lock)."""

    confirmed: float
    """The generation of the last token the server accepted (set by the call path after a
    successful call)."""

    def ensure_fresh(self, timeout: float) -> None:
        """Make sure a valid token is in place, within ``timeout`` seconds."""

    def force_refresh(self) -> bool:
        """Re-exchange now unless one ran in the last 5 s; never raises."""

    @property
    def generation(self) -> float:
        """Identifies the current grant (changes with every successful exchange)."""

    def reject(self, generation: float) -> bool:
        """The server refused a token of ``generation``; True when a retry may help."""


class CloudAuth:
    """Keeps a :class:`Grant` fresh; see the module docstring.

    ``exchange(timeout)`` performs one exchange; ``on_grant(grant)`` receives each new grant,
    in order, from the thread that made the exchange, with no lock of this object held.
    ``clock`` is what the schedule follows (the grants' ``obtained_at`` must be on it).

    Calls compare :attr:`refresh_due` with ``time.monotonic()``. On a manual (test) clock
    that comparison means nothing, so it is published as ``-inf``: every call then asks
    :meth:`ensure_fresh`, which judges by the clock (and costs a lock test when nothing is
    due).
    """

    def __init__(
        self,
        exchange: Callable[[float], Grant],
        on_grant: Callable[[Grant], None],
        *,
        timeout: float = 30.0,
        clock: Clock = SYSTEM,
    ) -> None:
        self._exchange = exchange
        self._on_grant = on_grant
        self._timeout = timeout
        self._clock = clock
        self._fork = ForkGuard(self._new_runtime)
        self._closed = False
        self._new_runtime()
        self.grant: Grant | None = None
        self.expires_at = 0.0
        self._set_due(0.0)  # when a call refreshes first (see the class docstring)
        self._refresh_at = 0.0  # when the background thread renews
        self._last_exchange = -1e18
        self.confirmed = -1e18  # see Credentials.confirmed
        self._last_forced = -1e18
        self._failed_at = -1e18
        self._failures = 0
        self._delivered: Grant | None = None
        self.last_error: SpectrumError | None = None

    def _new_runtime(self) -> None:
        # Locks and the thread belong to one process: a forked child gets new ones (the
        # parent's locks may be held by threads that do not exist in the child).
        self._lock = threading.Lock()  # one exchange at a time
        self._deliver_lock = threading.Lock()  # grants reach the listener one at a time
        self._thread_lock = threading.Lock()  # the refresher starts once
        self._stop = self._clock.event()  # set by close(): wakes the refresher
        self._thread: threading.Thread | None = None
        self._parked = threading.Event()  # the refresher reached its first wait

    def __repr__(self) -> str:
        kind = self.grant.kind if self.grant else "none"
        return f"CloudAuth(kind={kind!r}, failures={self._failures})"

    @property
    def closed(self) -> bool:
        return self._closed

    def seconds_left(self) -> float:
        """How long the current token stays valid, on this object's clock (<= 0: expired
        or none)."""
        return self.expires_at - self._clock.now()

    # ----- exchanging ---------------------------------------------------------------------

    def _exchange_locked(self, timeout: float) -> Grant:
        """One exchange; called with ``self._lock`` held."""
        grant = self._exchange(min(self._timeout, timeout))
        ttl = grant.expires_in  # within 5 s .. 24 h (the exchange clamps it)
        self._last_exchange = grant.obtained_at
        self.grant = grant
        self.expires_at = grant.obtained_at + ttl
        self._refresh_at = grant.obtained_at + 0.8 * ttl
        self._set_due(self.expires_at - min(REFRESH_MARGIN, 0.1 * ttl))
        self._failures = 0
        self.last_error = None
        return grant

    def _note_failure(self, error: SpectrumError) -> None:
        self._failures += 1
        self.last_error = error
        self._failed_at = self._clock.now()
        backoff = jittered(self._failures - 1, RETRY_BASE, RETRY_CAP, floor=0.5)
        retry_at = self._clock.now() + backoff
        # Keep using a valid token, but retry no later than shortly before it expires.
        self._refresh_at = retry_at
        self._set_due(min(retry_at, self.expires_at) if self.grant else 0.0)
        log.warning("token refresh failed (%s, attempt %d); retrying in %.1f s",
                    error.code, self._failures, backoff, extra=fields(code=error.code))

    def _set_due(self, due: float) -> None:
        """When a call must refresh first: ``_due`` on the clock, ``refresh_due`` for the
        call path."""
        self._due = due
        self.refresh_due = float("-inf") if self._clock.manual else due

    def _deliver(self, grant: Grant) -> None:
        """Hand a grant to the listener, outside the exchange lock and in order: a grant
        superseded before its turn is skipped (the newer one carries everything)."""
        with self._deliver_lock:
            if self._closed or grant is not self.grant or grant is self._delivered:
                return
            self._delivered = grant
            try:
                self._on_grant(grant)
            except Exception:
                log.exception("applying a new token grant failed")

    # ----- entry points -------------------------------------------------------------------

    def refresh(self, *, force: bool = False, timeout: float | None = None) -> bool:
        """Exchange now (coalesced with concurrent callers); True if a new grant came in.

        ``force`` is rate-limited: at most one forced refresh per 5 s, and none within 1 s of
        any exchange (False when skipped)."""
        if self._closed:
            raise ClientClosed("the client is closed")
        self._fork.check()
        start_generation = self._last_exchange
        with self._lock:
            if self._last_exchange != start_generation:
                return True  # another thread refreshed while we waited
            if force:
                now = self._clock.now()
                if (now - self._last_forced < FORCED_REFRESH_INTERVAL
                        or now - self._last_exchange < EXCHANGE_DEBOUNCE):
                    return False
                self._last_forced = now
            try:
                grant = self._exchange_locked(self._timeout if timeout is None else timeout)
            except SpectrumError as exc:
                self._note_failure(exc)
                raise
        self._deliver(grant)
        self._start_thread()
        return True

    def force_refresh(self) -> bool:
        """Re-exchange now unless the rate limit says no; never raises."""
        try:
            return self.refresh(force=True)
        except SpectrumError:
            return False

    @property
    def failures(self) -> int:
        """Consecutive failed exchanges (0 once one succeeds)."""
        return self._failures

    @property
    def generation(self) -> float:
        return self._last_exchange

    def reject(self, generation: float) -> bool:
        """The server answered UNAUTHENTICATED to a token of ``generation``: it forgot or
        revoked it (a restart, a secret rotation) long before ``expiresIn``. Unless a newer
        grant is already in, the token is treated as expired, so that the next call fetches
        a new one first. A token refused within a second of being issued, and never accepted,
        is not thrown away (that is a real authentication failure, and retrying would loop);
        one the server had accepted is, whatever its age (the server forgot it). True when a
        retry of the call may succeed."""
        if self._closed:
            return False
        if self._last_exchange != generation:
            return True  # another thread refreshed since this call took its token
        now = self._clock.now()
        if now - self._last_exchange < EXCHANGE_DEBOUNCE and self.confirmed != generation:
            return False
        self.expires_at = min(self.expires_at, now)
        self._set_due(min(self._due, now))
        return True

    def ensure_fresh(self, timeout: float) -> None:
        """Called by a call that found ``refresh_due`` passed: refresh, within ``timeout``."""
        if self._closed:
            raise ClientClosed("the client is closed")
        self._fork.check()
        if self.grant is not None and self._clock.now() < self.expires_at:
            # Still valid: refresh only if nobody else is, and never fail the call.
            grant = None
            if self._lock.acquire(blocking=False):
                try:
                    if self._clock.now() >= self._due:
                        grant = self._exchange_locked(timeout)
                except SpectrumError as exc:
                    self._note_failure(exc)
                finally:
                    self._lock.release()
                if grant is not None:
                    self._deliver(grant)
                self._start_thread()
            return
        # No usable token: the call must wait for one.
        start_generation = self._last_exchange
        waiting_since = self._clock.now()
        if not self._lock.acquire(timeout=max(timeout, 0.001)):
            raise ConnectionError("timed out waiting for a token refresh", code="timeout")
        grant = None
        try:
            if self._last_exchange == start_generation or self._clock.now() >= self.expires_at:
                last = self.last_error
                if last is not None and self._failed_at > waiting_since:
                    # An exchange failed while we waited for it: share its outcome rather
                    # than queue one more attempt per waiting caller.
                    raise copy.copy(last)
                try:
                    grant = self._exchange_locked(timeout)
                except SpectrumError as exc:
                    self._note_failure(exc)
                    raise
        finally:
            self._lock.release()
        if grant is not None:
            self._deliver(grant)
        self._start_thread()

    # ----- the background thread ----------------------------------------------------------

    def _start_thread(self) -> None:
        if self._thread is not None or self._closed:
            return
        with self._thread_lock:
            if self._thread is not None or self._closed:
                return
            # The new thread waits for this lock if it gets here first: it finds itself.
            thread = background_thread(self._run, "spectrum-refresh")
            if thread is None:
                return  # in uWSGI's master, calls refresh when due instead
            self._thread = thread
        # Return only once the new thread sleeps without the GIL. A server that forks right
        # after start-up (uWSGI's master, with a client made before the fork) would otherwise
        # fork while the starting thread holds the GIL, and each worker would wait forever
        # for it (docs/behaviour.md, "Lifecycle and fork").
        self._parked.wait(PARK_WAIT)

    def _run(self) -> None:
        try:
            self._refresh_until_closed()
        finally:
            self._parked.set()  # never keep a starter waiting for a thread that ended

    def _refresh_until_closed(self) -> None:
        while not self._closed:
            delay = self._refresh_at - self._clock.now()
            if delay > 0:
                self._parked.set()
                # Woken early by close(); on a test clock, by the test advancing it.
                self._clock.wait(self._stop, min(delay, 3600.0))
                continue
            try:
                self.refresh()
            except SpectrumError:
                pass  # logged by _note_failure; the next try is scheduled there
            except Exception:  # never let the refresher die silently
                log.exception("unexpected error in the token refresher")
                self._note_failure(CloudError("unexpected refresher error"))

    def close(self, timeout: float = 5.0) -> None:
        """Stop the refresher thread and wait for it (bounded). Idempotent."""
        self._fork.check()
        with self._thread_lock:
            self._closed = True
            thread = self._thread
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
