"""Per-line limits of the cloud plans: the daily quotas (messages sent, new conversations
started) and the service's other throttles, each of the official error list, off by default.

Every refusal is RESOURCE_EXHAUSTED with the code the service uses and a context the client
can act on (``limit``, ``line``, ``resetsAt`` or ``retryAfter``); see docs/errors.md.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from datetime import datetime, timezone

import grpc

from spectrum_sync.emulator.clock import Clock
from spectrum_sync.emulator.errors import EmulatorError

__all__ = ["QuotaCounter", "Throttles"]

_MINUTE = 60.0


def _positive(name: str, value: float | None) -> None:
    if value is not None and (isinstance(value, bool) or not value > 0):
        raise ValueError(f"Throttles.{name} must be a number > 0 or None, not {value!r}")


@dataclass(frozen=True)
class Throttles:
    """The service's throttles beyond the daily quotas; each is off (``None``) by default.

    - ``burst_per_minute``: sends per line in any 60 s (``burstRateExceeded``, retryable).
    - ``per_recipient_per_day``: sends to one recipient per UTC day
      (``recipientLimitExceeded``).
    - ``same_text_per_day``: sends of one text per line per UTC day
      (``contentDuplicateExceeded``).
    - ``uploads_per_minute``: uploads per line in any 60 s (``uploadRateExceeded``,
      retryable).
    - ``unanswered_per_recipient``: sends to a recipient in a row without an answer from
      them (``recipientCoolingDown``; their next message lifts it).
    - ``send_receive_ratio``: sends per received message on the line, counted once the line
      sent 10 (``sendReceiveRatioExceeded``).
    - ``locked_recipients``: addresses nobody may message (``recipientLocked``).
    """

    burst_per_minute: int | None = None
    per_recipient_per_day: int | None = None
    same_text_per_day: int | None = None
    uploads_per_minute: int | None = None
    unanswered_per_recipient: int | None = None
    send_receive_ratio: float | None = None
    locked_recipients: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name in ("burst_per_minute", "per_recipient_per_day", "same_text_per_day",
                     "uploads_per_minute", "unanswered_per_recipient", "send_receive_ratio"):
            _positive(name, getattr(self, name))
        object.__setattr__(self, "locked_recipients", frozenset(self.locked_recipients))


RATIO_GRACE = 10  # sends before the send/receive ratio is enforced


class QuotaCounter:
    """One line's usage for the current UTC day, and the state of its throttles; the
    emulator's lock guards it.

    A "new conversation" is the first message the line sends to a recipient it never sent
    to before (a DM address, or a group chat as a whole); inbound traffic does not count.
    """

    def __init__(self) -> None:
        self.day = ""
        self.messages = 0
        self.new_conversations = 0
        self.contacted: set[str] = set()
        self.per_recipient: collections.Counter[str] = collections.Counter()
        self.per_text: collections.Counter[str] = collections.Counter()
        self.unanswered: collections.Counter[str] = collections.Counter()
        self.sent_total = 0
        self.received_total = 0
        self.recent_sends: collections.deque[float] = collections.deque()
        self.recent_uploads: collections.deque[float] = collections.deque()

    def _roll(self, clock: Clock) -> None:
        day = clock.utc_day()
        if day != self.day:
            self.day, self.messages, self.new_conversations = day, 0, 0
            self.per_recipient.clear()
            self.per_text.clear()

    def charge(self, recipient: str, clock: Clock, line_name: str, message_limit: int,
               conversation_limit: int, throttles: Throttles | None = None,
               text: str = "") -> None:
        """Count one sent message to ``recipient``, or raise RESOURCE_EXHAUSTED."""
        self._roll(clock)
        if throttles is not None:
            self._throttle(recipient, text, clock, line_name, throttles)
        if self.messages >= message_limit:
            raise _exhausted("dailyLimitExceeded", "daily message limit reached",
                             message_limit, line_name, clock)
        is_new = recipient not in self.contacted
        if is_new and self.new_conversations >= conversation_limit:
            raise _exhausted("newContactThrottled", "daily new-conversation limit reached",
                             conversation_limit, line_name, clock)
        self.messages += 1
        if is_new:
            self.new_conversations += 1
            self.contacted.add(recipient)
        self.per_recipient[recipient] += 1
        self.per_text[text] += 1
        self.unanswered[recipient] += 1
        self.sent_total += 1
        self.recent_sends.append(clock.now())

    def _throttle(self, recipient: str, text: str, clock: Clock, line: str,
                  throttles: Throttles) -> None:
        address = recipient.split(":", 1)[-1]
        if address in throttles.locked_recipients:
            raise EmulatorError(grpc.StatusCode.RESOURCE_EXHAUSTED, "recipientLocked",
                                "sending to this recipient is locked",
                                context={"recipient": address, "line": line})
        limit = throttles.unanswered_per_recipient
        if limit is not None and self.unanswered[recipient] >= limit:
            raise EmulatorError(grpc.StatusCode.RESOURCE_EXHAUSTED, "recipientCoolingDown",
                                "the recipient has not answered recent messages",
                                context={"recipient": address, "limit": str(limit),
                                         "line": line})
        limit = throttles.per_recipient_per_day
        if limit is not None and self.per_recipient[recipient] >= limit:
            raise _exhausted("recipientLimitExceeded", "daily limit for this recipient "
                             "reached", limit, line, clock, recipient=address)
        limit = throttles.same_text_per_day
        if limit is not None and text and self.per_text[text] >= limit:
            raise _exhausted("contentDuplicateExceeded", "this text was sent too often today",
                             limit, line, clock)
        limit = throttles.burst_per_minute
        if limit is not None:
            _rate(self.recent_sends, limit, clock, line, "burstRateExceeded",
                  "too many sends in a short time")
        ratio = throttles.send_receive_ratio
        if (ratio is not None and self.sent_total >= RATIO_GRACE
                and self.sent_total > ratio * max(self.received_total, 1)):
            raise EmulatorError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                "sendReceiveRatioExceeded",
                                "the line sends far more than it receives",
                                context={"limit": f"{ratio:g}", "line": line})

    def charge_upload(self, clock: Clock, line: str, throttles: Throttles | None) -> None:
        """Count one upload, or raise ``uploadRateExceeded``."""
        limit = throttles.uploads_per_minute if throttles is not None else None
        if limit is not None:
            _rate(self.recent_uploads, limit, clock, line, "uploadRateExceeded",
                  "too many uploads in a short time")
        self.recent_uploads.append(clock.now())

    def note_inbound(self, recipient: str) -> None:
        """A message arrived from ``recipient``'s chat: an answer lifts the cool-down."""
        self.received_total += 1
        self.unanswered.pop(recipient, None)

    def usage(self, clock: Clock) -> dict[str, object]:
        """Today's counts (JSON-able)."""
        self._roll(clock)
        return {"day": self.day, "messages": self.messages,
                "new_conversations": self.new_conversations, "resets_at":
                clock.next_midnight_iso()}


def _rate(recent: collections.deque[float], limit: int, clock: Clock, line: str, code: str,
          message: str) -> None:
    """Refuse (retryable) when ``recent`` holds ``limit`` times within the last minute."""
    now = clock.now()
    while recent and recent[0] <= now - _MINUTE:
        recent.popleft()
    if len(recent) >= limit:
        wait = max(recent[0] + _MINUTE - now, 0.001)
        raise EmulatorError(grpc.StatusCode.RESOURCE_EXHAUSTED, code, message, retryable=True,
                            context={"limit": str(limit), "line": line,
                                     "retryAfter": f"{wait:.3f}",
                                     "resetsAt": _iso(now + wait)})


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _exhausted(code: str, message: str, limit: int, line: str, clock: Clock,
               **extra: str) -> EmulatorError:
    return EmulatorError(
        grpc.StatusCode.RESOURCE_EXHAUSTED, code, message, retryable=False,
        context={"limit": str(limit), "line": line, "resetsAt": clock.next_midnight_iso(),
                 **extra},
    )
