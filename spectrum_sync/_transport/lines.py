"""Lines: one gRPC endpoint, one bearer token and one phone number each.

* :class:`Line` (defined in ``_config.py``) is the public description of a self-hosted line
  (``Client(lines=[...])``).
* :class:`LineConnection` is a live line: a unary channel and a separate stream channel
  (created on first use, never per call), the method callables on each (cached), and the
  current auth metadata, swapped atomically on token refresh so calls read it without a lock.
* :class:`LineSet` holds the live lines, reconciles them with each token grant (auto-scale:
  lines appear and vanish at refresh) and finds lines by phone number or at random.
"""

from __future__ import annotations

import logging
import operator
import random
import threading
from collections.abc import Iterable
from typing import Any, Callable, NamedTuple

import grpc

from .._addresses import normalize_address
from .._config import Line
from .._errors import ClientClosed, InvalidAddress, RoutingError
from .._fork import ForkGuard, ProcessLock
from .._logfields import fields
from .._wire.rpc import Rpc
from .channels import ChannelFactory

__all__ = ["SHARED", "Line", "LineConnection", "LineSet", "LineSpec"]

log = logging.getLogger("spectrum_sync.lines")

SHARED = "shared"

# Requests serialize themselves: a protobuf message, or a request built by hand for a large
# payload (``_wire.raw.PreSerialized``), which the message class's own unbound method refuses.
_serialize = operator.methodcaller("SerializeToString")

# Channels inherited from the parent after fork: kept referenced and never closed in the
# child (tearing down the parent's connections from the child is not fork-safe).
_inherited: list[grpc.Channel] = []


class LineSpec(NamedTuple):
    """What a grant (or the user) says a line is; ``key`` is the instance id.

    A named tuple, not an attrs class: cheaper to create for a one-shot script."""

    key: str
    phone: str
    address: str
    tls: bool
    token: str

    def __repr__(self) -> str:  # never the token
        return (f"LineSpec(key={self.key!r}, phone={self.phone!r}, address={self.address!r}, "
                f"tls={self.tls!r})")


class LineConnection:
    """A live line; see the module docstring."""

    def __init__(self, spec: LineSpec, factory: ChannelFactory) -> None:
        self.key = spec.key
        self.phone = spec.phone
        self.address = spec.address
        self.tls = spec.tls
        self.shared = spec.phone == SHARED
        self._factory = factory
        self._lock = threading.Lock()
        self._fork = ForkGuard(self._abandon)
        self._channels: dict[bool, grpc.Channel] = {}  # stream? -> channel
        self._callables: dict[tuple[bool, str], Any] = {}
        self._closed_why: str | None = None
        self.metadata: tuple[tuple[str, str], ...] = ()
        self.set_token(spec.token)

    def __repr__(self) -> str:
        return f"LineConnection(phone={self.phone!r}, address={self.address!r}, tls={self.tls})"

    @property
    def closed(self) -> bool:
        return self._closed_why is not None

    def set_token(self, token: str) -> None:
        """Swap the bearer token (one attribute store: readers need no lock)."""
        self.metadata = (("authorization", f"Bearer {token}"),)

    def _callable(self, stream: bool, rpc: Rpc) -> Any:
        self._fork.check()
        found = self._callables.get((stream, rpc.path))
        if found is not None:
            return found
        return self._create(stream, rpc)

    def _create(self, stream: bool, rpc: Rpc) -> Any:
        with self._lock:
            if self._closed_why == "removed":
                raise RoutingError(f"line {self.phone} was removed", [])
            if self._closed_why is not None:
                raise ClientClosed("the client is closed")
            channel = self._channels.get(stream)
            if channel is None:
                channel = self._channels[stream] = self._factory.create(self.address, self.tls,
                                                                      streams=stream)
            factory = channel.unary_stream if rpc.streaming else channel.unary_unary
            made = factory(  # type: ignore[call-arg]
                rpc.path,
                request_serializer=_serialize,
                response_deserializer=rpc.response.FromString,
                # Registered with gRPC core once: cheaper per call (as generated stubs do).
                _registered_method=True,
            )
            self._callables[(stream, rpc.path)] = made
            return made

    def unary(self, rpc: Rpc) -> Any:
        """The callable of a unary ``rpc`` on the unary channel."""
        return self._callable(False, rpc)

    def stream(self, rpc: Rpc) -> Any:
        """The callable of a streaming ``rpc`` (or a catch-up) on the stream channel, so that
        long-lived streams never queue behind or starve the unary calls."""
        return self._callable(True, rpc)

    def close(self, why: str = "closed") -> None:
        """Close both channels (open calls are cancelled); later use raises ClientClosed, or
        RoutingError when ``why`` is ``"removed"``."""
        self._fork.check()
        with self._lock:
            self._closed_why = why
            channels = list(self._channels.values())
            self._channels.clear()
            self._callables = {}
        for channel in channels:
            channel.close()

    def _abandon(self) -> None:
        """In a forked child: forget the parent's channels without touching them."""
        self._lock = threading.Lock()
        _inherited.extend(self._channels.values())
        self._channels = {}
        self._callables = {}


LineListener = Callable[[list[LineConnection], list[LineConnection]], None]


class LineSet:
    """The live lines. Lookups read dicts that are replaced, never mutated (no lock)."""

    def __init__(self, factory: ChannelFactory) -> None:
        self._factory = factory
        self._lock = ProcessLock()  # a forked child gets its own
        self._by_key: dict[str, LineConnection] = {}
        self._by_phone: dict[str, LineConnection] = {}
        self._listeners: list[LineListener] = []

    def __repr__(self) -> str:
        return f"LineSet({sorted(self._by_phone)})"

    def add_listener(self, listener: LineListener) -> Callable[[], None]:
        """Call ``listener(added, removed)`` after each change; returns its unsubscriber.

        Listeners run in the thread that applied the change (a token refresh) and must not
        block (a receive engine only signals its readers)."""
        with self._lock:
            self._listeners = [*self._listeners, listener]

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = [ln for ln in self._listeners if ln is not listener]

        return unsubscribe

    def reconcile(
        self, specs: Iterable[LineSpec]
    ) -> tuple[list[LineConnection], list[LineConnection]]:
        """Make the set match ``specs``: attach new lines, detach vanished ones (closing
        their channels), update the tokens of the others."""
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
            listeners = self._listeners
        for line in removed:
            log.info("line %s detached", line.phone, extra=fields(line=line.phone))
            line.close("removed")
        if old:
            for line in added:
                log.info("line %s attached", line.phone, extra=fields(line=line.phone))
        if added or removed:
            for listener in listeners:
                try:
                    listener(added, removed)
                except Exception:
                    log.exception("a line listener failed")
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

    def find(self, phone: object) -> LineConnection | None:
        """The line with this phone number (in any common spelling), else None."""
        if not isinstance(phone, str):
            return None
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
            self._listeners = []
        for line in lines:
            line.close()
