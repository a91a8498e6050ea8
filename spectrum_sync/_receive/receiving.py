"""The client's receive component: one engine, one consumer at a time, the handlers.

:class:`Receiving` is owned by the client (composition: the client delegates
``messages()``, ``events()``, ``on_message``, ``run_forever()``, ``start()`` and ``health()``
to it). It creates the :class:`~.engine.ReceiveEngine` when a consumer starts and stops it
when that consumer ends, so a client never holds two sets of streams writing the same
cursors; a second concurrent consumer gets :class:`~spectrum_sync.AlreadyReceiving`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Collection
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from .._addresses import space_type
from .._errors import (
    AlreadyReceiving,
    ClientClosed,
    ConfigurationError,
    RoutingError,
    ValidationError,
)
from .._fork import ForkGuard
from .._logfields import fields
from .._models import Space
from .._state.base import StateStore
from .._state.monitor import StoreMonitor
from .dispatch import CallbackLoop, ErrorHandler, Handle, Handler, log_handler_error
from .engine import Delivery, ReceiveEngine
from .feeds import make_feed
from .filters import Filter, check_kinds
from .health import LineHealth
from .inbox import Inbox
from .options import ReceiveOptions

if TYPE_CHECKING:
    from .._backend.base import Backend
    from .._events import Event

__all__ = ["Receiving"]

log = logging.getLogger("spectrum_sync.receive")

H = TypeVar("H", bound=Handler)

_SPACE_CACHE = 10_000


def _how_to_end(consumer: str) -> str:
    """What ends the loop ``consumer`` started, for the AlreadyReceiving message."""
    if consumer.endswith(("messages()", "events()")):
        return ("close the first inbox (inbox.close(), or leave its 'with' block) or read it "
                "to its end (idle_timeout= ends it when quiet)")
    if consumer == "start()":
        return "stop it first (handle.stop())"
    return "let it return first"


class Receiving:
    """See the module docstring."""

    def __init__(self, backend: Backend, store: StateStore, options: ReceiveOptions,
                 monitor: StoreMonitor, timeout: float) -> None:
        self._backend = backend
        self._store = store
        self.options = options
        self._monitor = monitor
        self._timeout = timeout
        self._handlers: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()
        self._fork = ForkGuard(self._forget_engine)
        self._engine: ReceiveEngine | None = None
        self._consumer: str | None = None
        self._on_error: ErrorHandler | None = None
        self._last_health: dict[str, LineHealth] = {}
        self._spaces: dict[tuple[str, str], Space] = {}
        self._closed = False

    # -- the engine and its one consumer -----------------------------------------------

    def _forget_engine(self) -> None:
        # A forked child: the parent's reader threads do not exist here; forget them untouched.
        self._lock = threading.Lock()
        self._engine = None
        self._consumer = None

    def current(self) -> ReceiveEngine | None:
        """The running engine, if any (None in a forked child until it starts its own)."""
        self._fork.check()
        return self._engine

    def _claim(self, who: str) -> ReceiveEngine:
        self._fork.check()
        if self._closed:
            raise ClientClosed("the client is closed")
        self._backend.ready(self._timeout)  # the token exchange, before taking the slot
        with self._lock:
            if self._closed:
                raise ClientClosed("the client is closed")
            if self._consumer is not None:
                raise AlreadyReceiving(
                    f"this client is already receiving ({self._consumer}); a client serves "
                    f"one receive loop at a time: {_how_to_end(self._consumer)}, use "
                    "handlers with workers=N to process events in parallel, or use another "
                    "Client")
            engine = ReceiveEngine(make_feed(self._backend, self._store,
                                             self.options.lease_ttl),
                                   self._store, self.options, on_store_error=self._store_error)
            self._engine, self._consumer = engine, who
        try:
            engine.start()
        except BaseException:
            self._release(engine)  # the slot must not stay taken by a loop that never ran
            raise
        # A new client starts live: make "live" begin now, not whenever the readers get
        # there, so that an event triggered right after this call is not taken for history.
        engine.wait_until_anchored(min(self._timeout, 10.0))
        return engine

    def _release(self, engine: ReceiveEngine) -> None:
        with self._lock:
            if self._engine is engine:
                self._engine = self._consumer = None
                self._on_error = None
        engine.stop()
        self._last_health = {h.phone: h for h in engine.health().values()}
        self._spaces = {}  # they hold the client: none may outlive the loop here

    def _store_error(self, exc: BaseException) -> None:
        self._monitor.record("cursor commit", exc)
        report = self._on_error
        # The committer logs its failures once per burst already: the default handler would
        # add a traceback per retry, titled as if a handler had failed.
        if report is not None and report is not log_handler_error:
            report(exc, None)

    # -- decoding (consumer side) ------------------------------------------------------

    def decode(self, delivery: Delivery) -> Event | None:
        """The public event of a delivery; malformed or unknown events are logged and
        skipped (they are acknowledged by the caller and must not block the stream)."""
        payload, reader = delivery.payload, delivery.reader
        try:
            chat, phone = payload.chat_guid, reader.phone
            # The space of a chat seen before, without a call (this runs for every event).
            space = self._spaces.get((chat, phone))
            if space is None:
                space = self._space(chat, phone)
            event = reader.decode(payload, space, delivery.sequence, delivery.settle)
        except Exception:
            log.warning("receive: skipping a malformed %s event (seq %d) on %s",
                        delivery.family, delivery.sequence, delivery.phone, exc_info=True,
                        extra=fields(line=delivery.phone, family=delivery.family,
                                     sequence=delivery.sequence))
            return None
        if event is None:
            log.warning("receive: skipping a %s event of a kind this version does not know "
                        "(seq %d) on %s", delivery.family, delivery.sequence, delivery.phone,
                        extra=fields(line=delivery.phone, family=delivery.family,
                                     sequence=delivery.sequence))
        return event

    def _space(self, chat: str, phone: str) -> Space:
        """The space of an event: spaces are values, so one object serves every event of a
        chat (bounded). A chat met for the first time also teaches the routing."""
        key = (chat, phone)
        space = self._spaces.get(key)
        if space is None:
            space = self._backend.space(chat, space_type(chat), phone)
            if len(self._spaces) >= _SPACE_CACHE:
                self._spaces.clear()  # rare, cheap, and relearning is harmless
            self._spaces[key] = space
            # Routing learned from traffic: replies go back through this line. Best effort.
            self._backend.learn_route(chat, phone)
        return space

    # -- the generator -----------------------------------------------------------------

    def inbox(self, wanted: Filter, who: str) -> Inbox[Any]:
        if wanted.phone is not None:
            self._check_phone(wanted.phone)
        engine = self._claim(who)
        return Inbox(engine, wanted, self.decode, self.current, self._release)

    def _check_phone(self, phone: str) -> None:
        """A filter on a line this client does not have would wait for ever: say so."""
        self._backend.ready(self._timeout)
        known = self._backend.phones()
        if phone not in known and not (phone == "" and self._backend.mode == "local"):
            raise RoutingError(f"no line with phone number {phone!r}: a loop filtered on it "
                               "would never deliver anything", known)

    # -- callbacks ---------------------------------------------------------------------

    def on(self, kinds: str | Collection[str] | None, handler: H) -> H:
        """Register ``handler`` for events of ``kinds`` (None: every kind)."""
        if not callable(handler):
            raise ConfigurationError(
                f"a handler must be callable, not {type(handler).__name__}")
        chosen = check_kinds(kinds) or frozenset({"*"})
        with self._lock:
            for kind in chosen:
                self._handlers[kind] = [*self._handlers.get(kind, ()), handler]
        return handler

    def _handlers_for(self, event: Event) -> list[Handler]:
        found = self._handlers.get(event.kind, [])
        everything = self._handlers.get("*")
        return found + everything if everything else found

    def _check_ready(self, workers: object) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or not (
                1 <= workers <= 1024):
            raise ValidationError(f"workers must be an integer from 1 to 1024, not {workers!r}")
        if not self._handlers:
            raise ConfigurationError(
                "no handler registered: use @client.on_message or @client.on_event(kind)")

    def run(self, stop: threading.Event, *, workers: int = 1, include_own: bool = False,
            on_error: ErrorHandler | None = None) -> None:
        """Dispatch events to the handlers until ``stop`` is set or the client closes."""
        self._check_ready(workers)
        self._run_claimed(self._claim("run_forever()"), stop, workers, include_own, on_error)

    def _run_claimed(self, engine: ReceiveEngine, stop: threading.Event, workers: int,
                     include_own: bool, on_error: ErrorHandler | None) -> None:
        report = on_error or log_handler_error
        self._on_error = report
        try:
            CallbackLoop(engine, self.decode, self._handlers_for,
                         Filter(include_own=include_own), report, workers,
                         self.current).run(stop)
        finally:
            self._release(engine)

    def run_forever(self, **kwargs: Any) -> None:
        """Block dispatching events; SIGINT and SIGTERM stop it cleanly (main thread)."""
        stop = threading.Event()
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():

            def on_signal(signum: int, frame: FrameType | None) -> None:
                stop.set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        try:
            self.run(stop, **kwargs)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def start(self, *, workers: int = 1, include_own: bool = False,
              on_error: ErrorHandler | None = None) -> Handle:
        """Dispatch events from a background thread (``spectrum-dispatch``); the engine is
        claimed here, so a second consumer is refused at once."""
        self._check_ready(workers)
        engine = self._claim("start()")
        stop = threading.Event()

        def body() -> None:
            try:
                self._run_claimed(engine, stop, workers, include_own, on_error)
            except BaseException as exc:
                log.error("receive loop ended by %r", exc)
                handle._finished_with(exc)

        thread = threading.Thread(target=body, name="spectrum-dispatch", daemon=True)
        handle = Handle(thread, stop, engine.wake)
        thread.start()
        return handle

    # -- health and lifecycle ----------------------------------------------------------

    def health(self) -> dict[str, LineHealth]:
        """Per line (by phone): state, last frame time, reconnects, gaps, store errors, and
        with shared lines whether this process holds each (``standby``: another does)."""
        self._backend.ready(self._timeout)
        engine = self.current()
        live = {h.phone: h for h in engine.health().values()} if engine is not None else {}
        holder_of = getattr(engine.feed, "holder_of", None) if engine is not None else None
        result = {}
        for key, phone in self._backend.receiving_lines():
            health = live.get(phone)
            held = holder_of(key) if holder_of is not None else None
            if health is None:  # not receiving (or another process reads this line)
                state = "standby" if held is False else "idle"
                health = LineHealth(phone=phone, streams={"all": state})
                previous = self._last_health.get(phone)
                if previous is not None:  # the figures of the last loop
                    health.reconnects = previous.reconnects
                    health.gaps = list(previous.gaps)
                    health.last_frame_at = previous.last_frame_at
                    health.last_error = previous.last_error
            health.held = held
            if health.store_error is None:
                health.store_error = self._monitor.last_error
            result[phone] = health
        return result

    def queue_depths(self) -> list[int]:
        engine = self.current()
        return [] if engine is None else [engine.queue.qsize()]

    def close(self, timeout: float = 2.0) -> None:
        self._fork.check()
        with self._lock:
            self._closed = True
            engine = self._engine
        if engine is not None:
            engine.stop(timeout)
