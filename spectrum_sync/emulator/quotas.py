"""Per-line daily quotas of the cloud plans: messages sent, and new conversations started."""

from __future__ import annotations

import grpc

from spectrum_sync.emulator.clock import Clock
from spectrum_sync.emulator.errors import EmulatorError


class QuotaCounter:
    """One line's usage for the current UTC day; the emulator's lock guards it.

    A "new conversation" is the first message the line sends to a recipient it never sent
    to before (a DM address, or a group chat as a whole); inbound traffic does not count.
    """

    def __init__(self) -> None:
        self.day = ""
        self.messages = 0
        self.new_conversations = 0
        self.contacted: set[str] = set()

    def _roll(self, clock: Clock) -> None:
        day = clock.utc_day()
        if day != self.day:
            self.day, self.messages, self.new_conversations = day, 0, 0

    def charge(self, recipient: str, clock: Clock, line_name: str, message_limit: int,
               conversation_limit: int) -> None:
        """Count one sent message to ``recipient``, or raise RESOURCE_EXHAUSTED."""
        self._roll(clock)
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

    def usage(self, clock: Clock) -> dict[str, object]:
        """Today's counts (JSON-able)."""
        self._roll(clock)
        return {"day": self.day, "messages": self.messages,
                "new_conversations": self.new_conversations, "resets_at":
                clock.next_midnight_iso()}


def _exhausted(code: str, message: str, limit: int, line: str, clock: Clock) -> EmulatorError:
    return EmulatorError(
        grpc.StatusCode.RESOURCE_EXHAUSTED, code, message, retryable=False,
        context={"limit": str(limit), "line": line, "resetsAt": clock.next_midnight_iso()},
    )
