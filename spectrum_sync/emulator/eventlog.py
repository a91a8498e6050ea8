"""A line's event log: one monotonic sequence shared by every event family, bounded."""

from __future__ import annotations

import collections
import itertools
from typing import NamedTuple

from google.protobuf.message import Message as ProtoMessage

from spectrum_sync.emulator.errors import invalid

# Event families, named after the oneof cases of CatchUpEventsResponse.
MESSAGE = "message_changed"
GROUP = "group_changed"
POLL = "poll_changed"
CHAT = "chat_changed"
FAMILIES = (MESSAGE, GROUP, POLL, CHAT)


class Entry(NamedTuple):
    """One logged event. ``event`` is ``None`` for injected frames without a payload."""

    sequence: int
    family: str
    event: ProtoMessage | None
    chat_guid: str
    poll_guid: str


class EventLog:
    """Bounded log of a line's events. Not thread-safe: the emulator's lock guards it."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("event_log_size must be at least 1")
        self._entries: collections.deque[Entry] = collections.deque(maxlen=size)
        self.head = 0
        # Per family, the sequence of its newest event that left the log (full, or cleared):
        # a live stream of one family is behind only if one of its own events left unsent.
        self._dropped: dict[str, int] = {}

    def append(self, family: str, event: ProtoMessage | None, chat_guid: str = "",
               poll_guid: str = "") -> Entry:
        """Log an event under the next sequence number."""
        self.head += 1
        entry = Entry(self.head, family, event, chat_guid, poll_guid)
        entries = self._entries
        if len(entries) == entries.maxlen:
            leaving = entries[0]
            self._dropped[leaving.family] = leaving.sequence
        entries.append(entry)
        return entry

    def clear(self) -> None:
        """Forget every event but keep the sequence counter: clients holding a cursor must
        never see a sequence number again (they would drop the new event as seen)."""
        for entry in self._entries:
            self._dropped[entry.family] = entry.sequence
        self._entries.clear()

    def dropped_after(self, cursor: int, family: str | None = None) -> bool:
        """Whether an event after ``cursor`` left the log: one of ``family``, or of any
        family for None (a stream that sends them all)."""
        if family is None:
            return any(sequence > cursor for sequence in self._dropped.values())
        return self._dropped.get(family, 0) > cursor

    @property
    def oldest(self) -> int:
        """Sequence of the oldest event still held (``head + 1`` when empty)."""
        return self._entries[0].sequence if self._entries else self.head + 1

    def check_cursor(self, after: int) -> None:
        """``invalidArgument`` unless every event after ``after`` up to head is held."""
        if after > self.head:
            raise invalid(f"cursor {after} is ahead of head {self.head}",
                          cursor=str(after), head=str(self.head))
        if after < self.oldest - 1:
            raise invalid(f"cursor {after} is older than the event log (oldest {self.oldest})",
                          cursor=str(after), oldest=str(self.oldest))

    def after(self, sequence: int, upto: int | None = None) -> list[Entry]:
        """Entries with ``sequence < seq <= upto`` (default head), oldest first."""
        limit = self.head if upto is None else upto
        if sequence >= limit:
            return []
        entries = self._entries
        start = max(0, sequence + 1 - self.oldest)
        stop = max(start, len(entries) - (self.head - limit))
        if start > len(entries) // 2:
            # Near the head (every live stream's wake-up): walk in from the right end, as
            # islice from the left steps over every older entry (70 us on a full log, under
            # the emulator's lock, per stream per wake-up).
            out = list(itertools.islice(reversed(entries), len(entries) - stop,
                                        len(entries) - start))
            out.reverse()
            return out
        return list(itertools.islice(entries, start, stop))
