"""Deduplication of deliveries by message id, in a state store (claims, then marks)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .._state.base import StateStore

log = logging.getLogger("spectrum_sync.webhooks")

#: The state-store set that records the message ids already handled.
SEEN_GROUP = "webhook-seen"
#: How long a handled message id is remembered (Spectrum's retries end within hours).
SEEN_TTL = 7 * 86_400.0
#: The state-store set that records the message ids being handled right now (claims).
CLAIM_GROUP = "webhook-claim"
#: How long a claim holds when its process never releases it (it died mid-handler): copies of
#: that delivery are answered 409 until then, and the sender's next retry runs the handlers.
CLAIM_TTL = 300.0


class Deduplicator:
    """Which message ids were handled already, or are being handled, in a state store: the
    cloud delivers at least once, so a retried or repeated delivery must not run the
    handlers twice.

    :meth:`claim` decides with one atomic store operation first (set-if-absent of the id in
    the set ``webhook-claim``, with a lifetime of ``claim_ttl``): of two copies arriving at
    once, in one process or several sharing the store, exactly one gets the claim. The id is
    marked handled (set ``webhook-seen``, for ``ttl``) only once its handlers succeeded; a
    failure releases the claim, so the sender's retry runs them again. A store that fails is
    logged and treated as "not seen" (a claim in this process only): running a handler
    twice beats losing an event."""

    CLAIMED = "claimed"  #: run the handlers, then :meth:`mark` or :meth:`release`
    DONE = "done"  #: handled already: acknowledge
    BUSY = "busy"  #: another copy holds the claim: have the sender come back later

    def __init__(self, store: StateStore | Callable[[], StateStore], *,
                 group: str = SEEN_GROUP, ttl: float = SEEN_TTL,
                 claim_group: str = CLAIM_GROUP, claim_ttl: float = CLAIM_TTL) -> None:
        self._store = store
        self.group = group
        self.ttl = ttl  # ids are forgotten after this long: the record stays bounded
        self.claim_group = claim_group
        self.claim_ttl = claim_ttl
        self._lock = threading.Lock()
        self._active: set[str] = set()

    @property
    def store(self) -> StateStore:
        """The state store in use."""
        store = self._store
        if callable(store) and not hasattr(store, "add_member"):
            return store()
        return store  # type: ignore[return-value]

    def seen(self, message_id: str) -> bool:
        """Whether the id was handled already (a store failure is logged and counts as not
        seen: running a handler twice beats losing an event)."""
        try:
            return bool(self.store.has_member(self.group, message_id))
        except Exception:
            log.warning("webhook deduplication: the state store failed to answer",
                        exc_info=True)
            return False

    def claim(self, message_id: str) -> str:
        """Claim the id before its handlers run: :attr:`CLAIMED`, :attr:`DONE` or
        :attr:`BUSY`. The claim itself is one set-if-absent in the store."""
        with self._lock:
            # Copies in this process are told apart without a store round trip.
            if message_id in self._active:
                return self.BUSY
            self._active.add(message_id)
        try:
            claimed = bool(self.store.add_member(self.claim_group, message_id,
                                                 ttl=self.claim_ttl))
        except TypeError:
            # A store of the user's own whose sets take no lifetime: a claim there could
            # never lapse, so copies are told apart in this process only.
            claimed = True
        except Exception:
            log.warning("webhook deduplication: could not claim message %s in the state "
                        "store (handled as new)", message_id, exc_info=True)
            claimed = True
        if claimed and not self.seen(message_id):
            return self.CLAIMED
        # Either another copy holds the claim, or an earlier one handled the id and its
        # claim has lapsed since.
        done = claimed or self.seen(message_id)
        with self._lock:
            self._active.discard(message_id)
        return self.DONE if done else self.BUSY

    def mark(self, message_id: str) -> bool:
        """Record the id as handled and end this process's claim; True when it was not
        recorded before. A store failure is logged (the handlers ran: failing now would only
        cause a repeat). The store's claim is left to lapse: the mark answers copies now."""
        store = self.store
        try:
            try:
                return bool(store.add_member(self.group, message_id, ttl=self.ttl))
            except TypeError:
                # A store of the user's own written before add_member took a TTL.
                return bool(store.add_member(self.group, message_id))
        except Exception:
            log.warning("webhook deduplication: could not record message %s", message_id,
                        exc_info=True)
            return False
        finally:
            with self._lock:
                self._active.discard(message_id)

    def release(self, message_id: str) -> None:
        """Give up a claim whose handlers failed, so that the sender's retry runs them again
        (a store without ``remove_member`` lets the claim lapse after ``claim_ttl``)."""
        with self._lock:
            self._active.discard(message_id)
        remove = getattr(self.store, "remove_member", None)
        if remove is None:
            return
        try:
            remove(self.claim_group, message_id)
        except Exception:
            log.warning("webhook deduplication: could not release the claim on message %s "
                        "(it lapses in %g s)", message_id, self.claim_ttl, exc_info=True)
