"""Lines (one gRPC endpoint + token + phone number each), the line set, routing.

* :class:`Line` is the public, user-facing description of a self-hosted line.
* :class:`LineConnection` is a live line: its unary and stream channels
  (created lazily, never per call), the generated stubs on each, and the
  current auth metadata (swapped atomically on token refresh, so a call reads
  it without a lock).
* :class:`LineSet` holds the live lines, reconciles them with each token
  grant (auto-scale) and picks lines by phone number or at random.
* :class:`Routing` remembers which line serves which chat (from creations and
  from inbound traffic), backed by the state store.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Iterable
from typing import Callable

import attrs
import grpc

from ._proto import (
    addresses_pb2_grpc,
    attachments_pb2_grpc,
    chats_pb2_grpc,
    events_pb2_grpc,
    groups_pb2_grpc,
    messages_pb2_grpc,
    polls_pb2_grpc,
)
from .errors import InvalidAddress, RoutingError
from .state import StateStore
from .transport import ChannelFactory
from .users import normalize_address

__all__ = ["Line", "LineConnection", "LineSet", "LineSpec", "Routing", "Stubs"]

log = logging.getLogger("spectrum_sync.lines")

SHARED = "shared"

# Channels inherited from the parent after fork: kept referenced and never
# closed in the child (tearing down the parent's connections is not fork-safe).
_inherited: list[grpc.Channel] = []


@attrs.frozen
class Line:
    """A self-hosted line: gRPC ``address`` ("host:port"), static bearer ``token``, ``phone``."""

    address: str
    token: str = attrs.field(repr=False)
    phone: str
    tls: bool = True


@attrs.frozen
class LineSpec:
    """What a grant (or the user) says a line is; ``key`` is the instance id."""

    key: str
    phone: str
    address: str
    tls: bool
    token: str = attrs.field(repr=False)


class Stubs:
    """The generated service stubs on one channel."""

    __slots__ = ("addresses", "attachments", "chats", "events", "groups", "messages", "polls")

    def __init__(self, channel: grpc.Channel) -> None:
        self.messages = messages_pb2_grpc.MessageServiceStub(channel)
        self.chats = chats_pb2_grpc.ChatServiceStub(channel)
        self.groups = groups_pb2_grpc.GroupServiceStub(channel)
        self.polls = polls_pb2_grpc.PollServiceStub(channel)
        self.attachments = attachments_pb2_grpc.AttachmentServiceStub(channel)
        self.addresses = addresses_pb2_grpc.AddressServiceStub(channel)
        self.events = events_pb2_grpc.EventServiceStub(channel)


class LineConnection:
    """A live line. ``stubs`` (unary channel) and ``stream_stubs`` (stream channel)
    are created on first use; ``metadata`` carries the current bearer token."""

    def __init__(self, spec: LineSpec, factory: ChannelFactory) -> None:
        self.key = spec.key
        self.phone = spec.phone
        self.address = spec.address
        self.tls = spec.tls
        self._factory = factory
        self._lock = threading.Lock()
        self._channels: list[grpc.Channel] = []
        self._stubs: Stubs | None = None
        self._stream_stubs: Stubs | None = None
        self.closed = False
        self.metadata: tuple[tuple[str, str], ...] = ()
        self.set_token(spec.token)

    def __repr__(self) -> str:
        return f"LineConnection(phone={self.phone!r}, address={self.address!r}, tls={self.tls})"

    def set_token(self, token: str) -> None:
        """Swap the bearer token (one attribute store: readers need no lock)."""
        self.metadata = (("authorization", f"Bearer {token}"),)

    def _open(self, stream: bool) -> Stubs:
        with self._lock:
            stubs = self._stream_stubs if stream else self._stubs
            if stubs is not None:
                return stubs
            if self.closed:
                raise RoutingError(f"line {self.phone} was removed", [])
            channel = self._factory.create(self.address, self.tls)
            self._channels.append(channel)
            stubs = Stubs(channel)
            if stream:
                self._stream_stubs = stubs
            else:
                self._stubs = stubs
            return stubs

    @property
    def stubs(self) -> Stubs:
        """Stubs on the unary channel."""
        return self._stubs or self._open(stream=False)

    @property
    def stream_stubs(self) -> Stubs:
        """Stubs on the stream channel (long-lived event streams use this one)."""
        return self._stream_stubs or self._open(stream=True)

    def close(self) -> None:
        """Close both channels; open calls on them are cancelled."""
        with self._lock:
            self.closed = True
            channels, self._channels = self._channels, []
            self._stubs = self._stream_stubs = None
        for channel in channels:
            channel.close()

    def abandon(self) -> None:
        """After fork: forget the parent's channels without touching them."""
        self._lock = threading.Lock()
        _inherited.extend(self._channels)
        self._channels = []
        self._stubs = self._stream_stubs = None


LineListener = Callable[[list[LineConnection], list[LineConnection]], None]


class LineSet:
    """The live lines. Lookups read immutable dicts swapped on change (no lock)."""

    def __init__(self, factory: ChannelFactory) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._by_key: dict[str, LineConnection] = {}
        self._by_phone: dict[str, LineConnection] = {}
        self._listeners: list[LineListener] = []

    def __repr__(self) -> str:
        return f"LineSet({sorted(self._by_phone)})"

    def add_listener(self, listener: LineListener) -> None:
        """Call ``listener(added, removed)`` after each change (e.g. a receiver attaching)."""
        self._listeners.append(listener)

    def reconcile(
        self, specs: Iterable[LineSpec]
    ) -> tuple[list[LineConnection], list[LineConnection]]:
        """Make the set match ``specs``: attach new lines, detach vanished ones
        (closing their channels), update the tokens of the others."""
        with self._lock:
            old = self._by_key
            new: dict[str, LineConnection] = {}
            added: list[LineConnection] = []
            for spec in specs:
                line = old.get(spec.key)
                if line is not None and (line.address, line.phone) == (spec.address, spec.phone):
                    line.set_token(spec.token)
                else:
                    line = LineConnection(spec, self._factory)
                    added.append(line)
                new[spec.key] = line
            removed = [line for key, line in old.items() if new.get(key) is not line]
            self._by_key = new
            self._by_phone = {line.phone: line for line in new.values()}
        for line in removed:
            log.info("line %s detached", line.phone)
            line.close()
        for line in added:
            if old:
                log.info("line %s attached", line.phone)
        if added or removed:
            for listener in list(self._listeners):
                listener(added, removed)
        return added, removed

    @property
    def phones(self) -> list[str]:
        """Phone numbers of the live lines, sorted."""
        return sorted(self._by_phone)

    def all(self) -> list[LineConnection]:
        return list(self._by_key.values())

    def get(self, phone: str) -> LineConnection:
        """The line with this phone number, else :class:`RoutingError` listing the numbers."""
        line = self.find(phone)
        if line is None:
            raise RoutingError(f"no line with phone number {phone!r}", self.phones)
        return line

    def find(self, phone: str) -> LineConnection | None:
        """The line with this phone number (in any common spelling), else None."""
        line = self._by_phone.get(phone)
        if line is None and phone and phone != SHARED:
            try:
                canonical, _ = normalize_address(phone)
            except InvalidAddress:
                return None
            line = self._by_phone.get(canonical)
        return line

    def pick(self) -> LineConnection:
        """A line chosen at random (spreads new conversations across lines)."""
        lines = list(self._by_key.values())
        if not lines:
            raise RoutingError("no line is available", [])
        return random.choice(lines)

    def only(self) -> LineConnection | None:
        """The line when there is exactly one, else None."""
        lines = self._by_key
        if len(lines) == 1:
            return next(iter(lines.values()))
        return None

    def close(self) -> None:
        with self._lock:
            lines = list(self._by_key.values())
            self._by_key, self._by_phone = {}, {}
        for line in lines:
            line.close()

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        for line in self._by_key.values():
            line.abandon()


class Routing:
    """chat guid -> phone number of the line that serves the chat.

    Fed by chat creation and by inbound traffic (:meth:`learn`); the memory map
    in front of the store is read without a lock.
    """

    def __init__(self, store: StateStore, max_size: int = 100_000) -> None:
        self._store = store
        self._memory: dict[str, str] = {}
        self._max_size = max_size

    def learn(self, chat_guid: str, phone: str) -> None:
        """Remember that ``phone``'s line serves ``chat_guid``."""
        if self._memory.get(chat_guid) == phone:
            return
        self._remember(chat_guid, phone)
        self._store.set_route(chat_guid, phone)

    def lookup(self, chat_guid: str) -> str | None:
        phone = self._memory.get(chat_guid)
        if phone is None:
            phone = self._store.get_route(chat_guid)
            if phone is not None:
                self._remember(chat_guid, phone)
        return phone

    def _remember(self, chat_guid: str, phone: str) -> None:
        if len(self._memory) >= self._max_size:
            # Drop the oldest entry (dicts keep insertion order); the store keeps it.
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):
                del self._memory[next(iter(self._memory))]
        self._memory[chat_guid] = phone
