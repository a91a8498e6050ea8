"""Daily quotas per line (DESIGN.md 2.4): counting, refusal before sending, reports.

Counters live in the state store under ``quota:<kind>:<phone>:<YYYY-MM-DD>``
(UTC day), so several processes sharing a SQLite store share the counts. A
"new conversation" is the first message a line sends into a chat it never
messaged before; the set of contacted chats is kept per line.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Callable

import attrs

from .errors import QuotaExceeded, RateLimitError
from .state import StateStore

__all__ = ["MESSAGES", "NEW_CONVERSATIONS", "QuotaLimits", "QuotaTracker", "QuotaUsage"]

MESSAGES = "messages"
NEW_CONVERSATIONS = "new_conversations"

# Server error codes that mean a daily quota is spent, and which one.
_KIND_BY_CODE = {
    "dailyLimitExceeded": MESSAGES,
    "newContactThrottled": NEW_CONVERSATIONS,
    "recipientLimitExceeded": NEW_CONVERSATIONS,
}


@attrs.frozen
class QuotaLimits:
    """Daily limits per line; ``None`` disables the client-side check of that quota."""

    messages_per_day: int | None = 5000
    new_conversations_per_day: int | None = 50

    def limit(self, kind: str) -> int | None:
        return self.messages_per_day if kind == MESSAGES else self.new_conversations_per_day


@attrs.frozen
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
        if self.messages_limit is None:
            return None
        return max(self.messages_limit - self.messages, 0)

    @property
    def new_conversations_remaining(self) -> int | None:
        if self.new_conversations_limit is None:
            return None
        return max(self.new_conversations_limit - self.new_conversations, 0)


def _utc_day(now: float) -> tuple[str, datetime]:
    moment = datetime.fromtimestamp(now, timezone.utc)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.strftime("%Y-%m-%d"), midnight + timedelta(days=1)


class QuotaTracker:
    """Counts sends per line and UTC day and refuses a send whose quota is spent."""

    def __init__(
        self,
        store: StateStore,
        limits: QuotaLimits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock
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

    def _exceeded(
        self, kind: str, phone: str, limit: int | None, resets_at: datetime, **kw: object
    ) -> QuotaExceeded:
        what = "messages" if kind == MESSAGES else "new conversations"
        bound = f" of {limit}" if limit is not None else ""
        return QuotaExceeded(
            f"daily quota{bound} {what} of line {phone} is spent; it resets at "
            f"{resets_at.isoformat()}",
            kind=kind,
            limit=limit,
            line=phone,
            resets_at=resets_at,
            **kw,  # type: ignore[arg-type]
        )

    def check(self, phone: str, chat_guid: str) -> bool:
        """Before a send: raise :class:`QuotaExceeded` if a known quota is spent.

        Returns whether the send would open a new conversation."""
        day, resets_at = self._day()
        is_new = not self.store.has_member(f"contacted:{phone}", chat_guid)
        kinds = (MESSAGES, NEW_CONVERSATIONS) if is_new else (MESSAGES,)
        store = self.store
        for kind in kinds:
            limit = self.limits.limit(kind)
            if limit is not None and store.get_counter(self._key(kind, phone, day)) >= limit:
                raise self._exceeded(kind, phone, limit, resets_at, code="quotaSpent")
            spent = store.get_counter(self._key(f"{kind}:spent", phone, day))
            if spent:  # the server said so today; its limit may differ from ours
                raise self._exceeded(kind, phone, spent, resets_at, code="quotaSpent")
        return is_new

    def record(self, phone: str, chat_guid: str) -> None:
        """After a successful send: count it."""
        day, _ = self._day()
        self.store.add_counter(self._key(MESSAGES, phone, day))
        if self.store.add_member(f"contacted:{phone}", chat_guid):
            self.store.add_counter(self._key(NEW_CONVERSATIONS, phone, day))

    def record_contact(self, phone: str, chat_guid: str) -> None:
        """Mark a chat as known to a line without counting a send (e.g. inbound traffic)."""
        self.store.add_member(f"contacted:{phone}", chat_guid)

    def translate(self, error: RateLimitError, phone: str) -> RateLimitError:
        """Turn a server quota error into :class:`QuotaExceeded` and mark the quota spent."""
        kind = _KIND_BY_CODE.get(error.code)
        if kind is None or isinstance(error, QuotaExceeded):
            return error
        day, resets_at = self._day()
        limit = self.limits.limit(kind)
        server_limit = error.context.get("limit", "")
        if server_limit.isdigit():
            limit = int(server_limit)
        # Remember the quota as spent for today (with the server's limit, else ours).
        self.store.raise_counter(self._key(f"{kind}:spent", phone, day), limit or 1)
        return self._exceeded(
            kind,
            phone,
            limit,
            resets_at,
            code=error.code,
            retryable=False,
            grpc_code=error.grpc_code,
            context=error.context,
        )

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
