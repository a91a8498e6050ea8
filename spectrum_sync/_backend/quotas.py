"""Daily quotas per line: reserve before a send, refuse when spent, report usage.

Counters live in the state store under ``quota:<kind>:<phone>:<YYYY-MM-DD>`` (UTC day), so
processes sharing a store share the counts. A send **reserves** its units atomically before
the call (messages, plus a new conversation when the line never wrote to the chat) and gives
them back if the call fails without the service carrying it out; the reservation is then the
count. A "new conversation" is the first message a line sends into a chat it never wrote to
(inbound traffic also makes a chat known). See docs/behaviour.md, "Quotas".

The bookkeeping is on the send's path, so a store that is not in memory is asked within
the time left in the send (``deadline``) and skipped for a while after a failure
(:class:`~.._state.monitor.StoreMonitor`): a slow or unreachable store never holds a send
past its deadline, and the send goes on uncounted (docs/behaviour.md, "State stores").
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import attrs

from .._config import MESSAGES, NEW_CONVERSATIONS, QuotaLimits
from .._errors import QuotaExceeded, RateLimitError
from .._records import field_methods
from .._state.base import StateStore
from .._state.monitor import StoreMonitor

__all__ = ["MESSAGES", "NEW_CONVERSATIONS", "QuotaLimits", "QuotaTracker", "QuotaUsage"]

_DAY_TTL = 2 * 86_400.0  # shared stores may drop a day's counters after this

# Server error codes that mean a line-wide daily quota is spent, and which one. Throttles
# scoped to one recipient or one text (recipientLimitExceeded, contentDuplicateExceeded,
# ...) must not stop the line's other sends: they stay plain RateLimitErrors (docs/errors.md).
_KIND_BY_CODE = {
    "dailyLimitExceeded": MESSAGES,
    "newContactThrottled": NEW_CONVERSATIONS,
}


@field_methods
@attrs.frozen(repr=False, eq=False)
class QuotaUsage:
    """Usage of one line on one UTC day."""

    line: str
    day: str
    messages: int
    messages_limit: int | None
    new_conversations: int
    new_conversations_limit: int | None
    resets_at: datetime

    @property
    def messages_remaining(self) -> int | None:
        """Messages left today (None: no limit)."""
        if self.messages_limit is None:
            return None
        return max(self.messages_limit - self.messages, 0)

    @property
    def new_conversations_remaining(self) -> int | None:
        """New conversations left today (None: no limit)."""
        if self.new_conversations_limit is None:
            return None
        return max(self.new_conversations_limit - self.new_conversations, 0)


def _utc_day(now: float) -> tuple[str, datetime]:
    moment = datetime.fromtimestamp(now, timezone.utc)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.strftime("%Y-%m-%d"), midnight + timedelta(days=1)


class Reservation:
    """The units one send holds: released if the send fails without effect, kept (and the
    chat recorded as contacted) when it succeeds."""

    __slots__ = ("_chat", "_contacted_key", "_deadline", "_keys", "_known", "_tracker")

    def __init__(self, tracker: QuotaTracker, keys: list[str], contacted_key: str,
                 chat: str, known: bool = False, deadline: float | None = None) -> None:
        self._tracker = tracker
        self._keys = keys
        self._contacted_key = contacted_key
        self._chat = chat
        self._known = known  # the line had written to the chat already
        self._deadline = deadline  # the end of the send (time.monotonic()), if bounded

    def release(self) -> None:
        """The send did not happen: give the units back (best effort)."""
        keys, self._keys = self._keys, []
        if not keys:
            return
        store = self._tracker.store

        def give_back() -> None:
            for key in keys:
                store.release(key)

        self._tracker.monitor.guard("quota release", give_back, None, self._deadline)

    def commit(self) -> None:
        """The send happened: the units stay spent and the chat is now known to the line.
        Never raises (the message is out; an error here would invite a duplicate)."""
        if self._known:
            return  # nothing to record: a round trip saved on a shared store
        store = self._tracker.store
        self._tracker.monitor.guard(
            "quota bookkeeping", lambda: store.add_member(self._contacted_key, self._chat),
            False, self._deadline)


class QuotaTracker:
    """Counts sends per line and UTC day and refuses a send whose quota is spent."""

    def __init__(
        self,
        store: StateStore,
        limits: QuotaLimits,
        monitor: StoreMonitor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.limits = limits
        self.monitor = monitor
        self.clock = clock
        # A store in memory answers at once: asking it inline keeps sends cheap.
        self._bounded = not getattr(store, "in_memory", False)
        self._today: tuple[float, str, datetime] = (-1.0, "", datetime.min)

    def _day(self) -> tuple[str, datetime]:
        """The UTC day and its end, recomputed only when a day has passed."""
        now = self.clock()
        ends, day, resets_at = self._today
        if now >= ends or now < ends - 86400:
            day, resets_at = _utc_day(now)
            self._today = (resets_at.timestamp(), day, resets_at)
        return day, resets_at

    @staticmethod
    def _key(kind: str, phone: str, day: str) -> str:
        return f"quota:{kind}:{phone}:{day}"

    def _exceeded(self, kind: str, phone: str, limit: int | None, resets_at: datetime,
                  **kw: Any) -> QuotaExceeded:
        what = "messages" if kind == MESSAGES else "new conversations"
        bound = f" of {limit}" if limit is not None else ""
        return QuotaExceeded(
            f"daily quota{bound} {what} of line {phone} is spent; it resets at "
            f"{resets_at.isoformat()}",
            kind=kind, limit=limit, line=phone, resets_at=resets_at, **kw,
        )

    def reserve(self, phone: str, chat_guid: str, *, enforce: bool = True,
                deadline: float | None = None) -> Reservation:
        """Before a send: reserve its units, or raise :class:`QuotaExceeded`.

        ``enforce=False`` counts without refusing (shared mode: the numbers behind the pool
        are unknown, so only the server can tell). ``deadline`` (``time.monotonic()``) is
        the end of the send: the reservation waits for the store at most half the time
        left (the call keeps the rest), the release or record after the call at most
        what is left then. A store failure, or no answer in time, never blocks
        the send: it is logged and reported in health, and the send goes on uncounted."""
        bound = None
        if deadline is not None and self._bounded:
            # Half the time left at most: the call itself keeps the other half.
            now = time.monotonic()
            bound = now + max(deadline - now, 0.0) / 2
        outcome = self.monitor.guard(
            "quota check", lambda: self._reserve_or_refusal(
                phone, chat_guid, enforce, deadline if self._bounded else None),
            None, bound)
        if isinstance(outcome, QuotaExceeded):
            raise outcome
        if outcome is None:
            return Reservation(self, [], f"contacted:{phone}", chat_guid,
                               deadline=deadline if self._bounded else None)
        return outcome

    def _reserve_or_refusal(self, phone: str, chat_guid: str, enforce: bool,
                            deadline: float | None) -> Reservation | QuotaExceeded:
        # A refusal is an answer, not a store failure: returned, raised by the caller.
        try:
            return self._reserve(phone, chat_guid, enforce, deadline)
        except QuotaExceeded as refusal:
            return refusal

    def _reserve(self, phone: str, chat_guid: str, enforce: bool,
                 deadline: float | None) -> Reservation:
        day, resets_at = self._day()
        store = self.store
        contacted = f"contacted:{phone}"
        is_new = not store.has_member(contacted, chat_guid)
        kinds = (MESSAGES, NEW_CONVERSATIONS) if is_new else (MESSAGES,)
        if enforce:
            for kind in kinds:
                spent = store.get_counter(self._key(f"{kind}:spent", phone, day))
                if spent:  # the server said so today; its limit may differ from ours
                    raise self._exceeded(kind, phone, spent, resets_at, code="quotaSpent")
        held: list[str] = []
        for kind in kinds:
            key = self._key(kind, phone, day)
            limit = self.limits.limit(kind) if enforce else None
            if not store.reserve(key, limit, _DAY_TTL):
                for taken in held:  # already within the send's time (a worker thread)
                    try:
                        store.release(taken)
                    except Exception as exc:
                        self.monitor.record("quota release", exc)
                raise self._exceeded(kind, phone, limit, resets_at, code="quotaSpent")
            held.append(key)
        return Reservation(self, held, contacted, chat_guid, known=not is_new,
                           deadline=deadline)

    def record_contact(self, phone: str, chat_guid: str) -> None:
        """Mark a chat as known to a line without counting a send (inbound traffic)."""
        self.monitor.guard("routing", lambda: self.store.add_member(
            f"contacted:{phone}", chat_guid), False)

    def translate(self, error: RateLimitError, phone: str,
                  deadline: float | None = None) -> RateLimitError:
        """Turn a server quota error into :class:`QuotaExceeded` and mark the quota spent
        (within the time left before ``deadline``, if given)."""
        kind = _KIND_BY_CODE.get(error.code)
        if kind is None or isinstance(error, QuotaExceeded):
            return error
        day, resets_at = self._day()
        limit = self.limits.limit(kind)
        server_limit = error.context.get("limit", "")
        if server_limit.isdigit():
            limit = int(server_limit)
        # Remember the quota as spent for today (with the server's limit, else ours).
        self.monitor.guard("quota bookkeeping", lambda: self.store.raise_counter(
            self._key(f"{kind}:spent", phone, day), limit or 1, _DAY_TTL), 0,
            deadline if self._bounded else None)
        translated = self._exceeded(
            kind, phone, limit, error.resets_at or resets_at, code=error.code, retryable=False,
            grpc_code=error.grpc_code, context=error.context,
            idempotency_key=error.idempotency_key,
        )
        translated.outcome = error.outcome
        return translated

    def usage(self, phone: str) -> QuotaUsage:
        """Today's counts for a line."""
        day, resets_at = self._day()
        return QuotaUsage(
            line=phone,
            day=day,
            messages=self.store.get_counter(self._key(MESSAGES, phone, day)),
            messages_limit=self.limits.messages_per_day,
            new_conversations=self.store.get_counter(self._key(NEW_CONVERSATIONS, phone, day)),
            new_conversations_limit=self.limits.new_conversations_per_day,
            resets_at=resets_at,
        )
