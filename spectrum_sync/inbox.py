"""Receiving for a client: the generator and callback front ends over :mod:`receive`.

Commit point (DESIGN.md 4): the generator acknowledges an event when the caller asks for the
next one, or when the loop is left (``break`` counts as done with the last event); callback
mode acknowledges when every handler for the event has returned (or raised: the error goes to
``on_error`` and the loop goes on). With ``workers > 1`` events of one space always go to the
same worker, so order within a space is kept while spaces run in parallel.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterator
from types import FrameType
from typing import Any, TypeVar

from spectrum_sync.auth import CloudAuth
from spectrum_sync.backend import CloudBackend
from spectrum_sync.errors import ClientClosed, ConfigurationError, ValidationError
from spectrum_sync.events import EVENT_KINDS, Event, chat_guid_of, decode, kind_of
from spectrum_sync.lines import SHARED, LineConnection, LineSet
from spectrum_sync.models import Space, space_type
from spectrum_sync.receive import Delivery, LineHealth, ReceiveOptions, Receiver, StreamCall
from spectrum_sync.state import MemoryStore, StateStore

log = logging.getLogger(__name__)

Handler = Callable[[Any], object]
ErrorHandler = Callable[[BaseException, Event], object]
H = TypeVar("H", bound=Handler)

_POLL = 0.25  # how often a waiting consumer wakes up (Ctrl-C, stop requests)


_STREAM_SERVICES = {
    "SubscribeMessageEvents": "messages",
    "SubscribeGroupEvents": "groups",
    "SubscribePollEvents": "polls",
    "CatchUpEvents": "events",
}


class _StreamLine:
    """Adapts a client line to :class:`spectrum_sync.receive.StreamLine`."""

    def __init__(self, line: LineConnection, auth: CloudAuth | None, timeout: float) -> None:
        self.line = line
        self.key = line.key
        self.phone = line.phone
        self.shared = line.phone == SHARED
        self._auth = auth
        self._timeout = timeout

    def open_stream(self, method: str, request: Any) -> StreamCall:
        auth = self._auth
        if auth is not None and time.monotonic() >= auth.refresh_due:
            auth.ensure_fresh(self._timeout)
        # The stream channel's stub of the service that owns the method.
        service = getattr(self.line.stream_stubs, _STREAM_SERVICES[method])
        call: StreamCall = getattr(service, method)(request, metadata=self.line.metadata)
        return call


class Filter:
    """Which events a consumer wants."""

    def __init__(
        self,
        kinds: Collection[str] | None = None,
        space: Space | str | None = None,
        phone: str | None = None,
        include_own: bool = False,
    ) -> None:
        if kinds is not None:
            unknown = set(kinds) - set(EVENT_KINDS)
            if unknown:
                raise ValidationError(
                    f"unknown event kinds {sorted(unknown)}; use some of {list(EVENT_KINDS)}"
                )
        self.kinds = None if kinds is None else frozenset(kinds)
        self.chat = space.id if isinstance(space, Space) else space
        self.phone = phone
        self.include_own = include_own

    def __call__(self, event: Event) -> bool:
        if self.kinds is not None and kind_of(event) not in self.kinds:
            return False
        if not self.include_own and event.is_from_me:
            return False
        if self.chat is not None and event.space.id != self.chat:
            return False
        return self.phone is None or event.space.phone == self.phone


class Handle:
    """A running background receive loop (from ``client.start()``)."""

    def __init__(self, thread: threading.Thread, stop: threading.Event) -> None:
        self._thread = thread
        self._stop = stop

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop receiving; True when everything stopped within ``timeout`` s."""
        self._stop.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


class Inbox:
    """The receive side of one :class:`~spectrum_sync.client.Client`."""

    def __init__(
        self,
        backend: CloudBackend,
        lines: LineSet,
        auth: CloudAuth | None,
        store: StateStore,
        options: ReceiveOptions,
        timeout: float,
    ) -> None:
        self._backend = backend
        self._lines = lines
        self._auth = auth
        self._store = store
        self.options = options
        self._timeout = timeout
        self._handlers: dict[str, list[Handler]] = {}
        self._receivers: set[Receiver] = set()
        self._finished: dict[str, LineHealth] = {}
        self._lock = threading.Lock()
        self._closed = False
        lines.add_listener(self._on_lines_changed)

    # -- handlers ------------------------------------------------------------------------

    def on(self, kinds: Collection[str], handler: H) -> H:
        """Register ``handler`` for events of ``kinds``."""
        Filter(kinds)  # validates the kinds
        return self._register(kinds, handler)

    def on_all(self, handler: H) -> H:
        """Register ``handler`` for every event."""
        return self._register(("*",), handler)

    def _register(self, kinds: Collection[str], handler: H) -> H:
        if not callable(handler):
            raise ConfigurationError(f"a handler must be callable, not {type(handler).__name__}")
        with self._lock:
            for kind in kinds:
                self._handlers.setdefault(kind, []).append(handler)
        return handler

    # -- the generator -------------------------------------------------------------------

    def events(self, wanted: Filter) -> Iterator[Event]:
        """Events across all lines until the caller stops iterating (see module doc)."""
        receiver = self._open()
        pending: Delivery | None = None
        try:
            while True:
                if pending is not None:
                    pending.ack()
                    pending = None
                delivery = receiver.get(_POLL)
                if delivery is None:
                    if self._closed:
                        return
                    continue
                event = self._decode(delivery)
                if event is None or not wanted(event):
                    delivery.ack()
                    continue
                pending = delivery
                yield event
        finally:
            if pending is not None:
                pending.ack()  # leaving the loop counts as done with the last event
            self._release(receiver)

    # -- callbacks -----------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        *,
        workers: int = 1,
        include_own: bool = False,
        on_error: ErrorHandler | None = None,
    ) -> None:
        """Dispatch events to the registered handlers until ``stop`` is set."""
        if workers < 1:
            raise ConfigurationError("workers must be at least 1")
        with self._lock:
            if not self._handlers:
                raise ConfigurationError(
                    "no handler registered: use @client.on_message or @client.on_event(kind)"
                )
        wanted = Filter(include_own=include_own)
        report = on_error or _log_handler_error
        pool = _Workers(workers, self._dispatch_one, report, stop) if workers > 1 else None
        receiver = self._open()
        try:
            while not stop.is_set() and not self._closed:
                delivery = receiver.get(_POLL)
                if delivery is None:
                    continue
                event = self._decode(delivery)
                handlers = self._handlers_for(event) if event is not None else []
                if event is None or not handlers or not wanted(event):
                    delivery.ack()
                elif pool is None:
                    self._dispatch_one(event, handlers, report)
                    delivery.ack()
                else:
                    pool.submit(event, handlers, delivery.ack)
        finally:
            if pool is not None:
                pool.close()
            self._release(receiver)

    def run_forever(self, **kwargs: Any) -> None:
        """Block dispatching events; SIGINT and SIGTERM stop it cleanly."""
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

    def start(self, **kwargs: Any) -> Handle:
        """Dispatch events from a background thread; returns its :class:`Handle`."""
        with self._lock:
            if not self._handlers:
                raise ConfigurationError(
                    "no handler registered: use @client.on_message or @client.on_event(kind)"
                )
        stop = threading.Event()
        thread = threading.Thread(
            target=self._run_logged, args=(stop,), kwargs=kwargs,
            name="spectrum-dispatch", daemon=True,
        )
        thread.start()
        return Handle(thread, stop)

    def _run_logged(self, stop: threading.Event, **kwargs: Any) -> None:
        try:
            self.run(stop, **kwargs)
        except Exception:
            log.exception("receive loop failed")

    def _handlers_for(self, event: Event) -> list[Handler]:
        found = self._handlers.get(kind_of(event), [])
        everything = self._handlers.get("*", [])
        return found + everything if everything else found

    @staticmethod
    def _dispatch_one(event: Event, handlers: list[Handler], report: ErrorHandler) -> None:
        for handler in handlers:
            try:
                handler(event)
            except Exception as exc:
                try:
                    report(exc, event)
                except Exception:
                    log.exception("on_error handler failed")

    # -- health and lifecycle ------------------------------------------------------------

    def health(self) -> dict[str, LineHealth]:
        """Per line (by phone): state, last frame time, reconnects, gaps."""
        self._backend.ready(self._timeout)
        with self._lock:
            receivers = list(self._receivers)
            report = dict(self._finished)
        for receiver in receivers:
            for health in receiver.health().values():
                report[health.phone] = health
        current = {line.phone for line in self._lines.all()}
        for phone in current:
            report.setdefault(phone, LineHealth(phone=phone, streams={"all": "idle"}))
        return {phone: health for phone, health in report.items() if phone in current}

    def queue_depths(self) -> list[int]:
        with self._lock:
            return [receiver.queue.qsize() for receiver in self._receivers]

    def close(self, timeout: float = 2.0) -> None:
        self._closed = True
        with self._lock:
            receivers = list(self._receivers)
            self._receivers.clear()
        deadline = time.monotonic() + timeout
        for receiver in receivers:
            receiver.stop(max(0.1, deadline - time.monotonic()))

    def _open(self) -> Receiver:
        if self._closed:
            raise ClientClosed("the client is closed")
        self._backend.ready(self._timeout)
        auth = self._auth

        def refresh_token(line: object) -> None:
            if auth is not None:
                auth.force_refresh()  # rate-limited by the auth layer

        receiver = Receiver(self._store, self.options, on_repeated_failures=refresh_token,
                            persistent=not isinstance(self._store, MemoryStore))
        with self._lock:
            self._receivers.add(receiver)
        for line in self._lines.all():
            receiver.add_line(_StreamLine(line, auth, self._timeout))
        return receiver

    def _release(self, receiver: Receiver) -> None:
        with self._lock:
            self._receivers.discard(receiver)
        receiver.stop()
        with self._lock:  # keep the last figures for health() (state: stopped)
            self._finished.update({h.phone: h for h in receiver.health().values()})

    def _on_lines_changed(
        self, added: list[LineConnection], removed: list[LineConnection]
    ) -> None:
        with self._lock:
            receivers = list(self._receivers)
        for receiver in receivers:
            for line in removed:
                receiver.remove_line(line.key)
            for line in added:
                receiver.add_line(_StreamLine(line, self._auth, self._timeout))

    def _decode(self, delivery: Delivery) -> Event | None:
        try:
            chat = chat_guid_of(delivery.payload)
            phone = delivery.line.phone
            space = Space(chat, space_type(chat), phone, ops=self._backend)
            event = decode(delivery.payload, space, delivery.sequence)
            self._backend.learn_route(chat, phone)
        except Exception:  # a malformed event must not block the stream
            log.warning("receive: skipping a malformed %s event (seq %d) on %s",
                        delivery.family, delivery.sequence, delivery.line.phone, exc_info=True)
            return None
        if event is None:
            log.warning("receive: skipping a %s event of a kind this version does not know "
                        "(seq %d) on %s", delivery.family, delivery.sequence, delivery.line.phone)
        return event


def _log_handler_error(exc: BaseException, event: Event) -> None:
    log.error("handler failed for %s event in %s", kind_of(event), event.space.id,
              exc_info=(type(exc), exc, exc.__traceback__))


_Job = tuple[Event, list[Handler], Callable[[], None]]


class _Workers:
    """N worker threads; events of one space always go to the same worker (order kept)."""

    def __init__(
        self,
        count: int,
        dispatch: Callable[[Event, list[Handler], ErrorHandler], None],
        report: ErrorHandler,
        stop: threading.Event,
    ) -> None:
        self._dispatch = dispatch
        self._report = report
        self._queues: list[queue.Queue[_Job | None]] = [
            queue.Queue(maxsize=64) for _ in range(count)
        ]
        self._threads = [
            threading.Thread(target=self._work, args=(q,), name=f"spectrum-worker-{i}",
                             daemon=True)
            for i, q in enumerate(self._queues)
        ]
        self._stop = stop
        for thread in self._threads:
            thread.start()

    def submit(self, event: Event, handlers: list[Handler], ack: Callable[[], None]) -> None:
        target = self._queues[hash(event.space.id) % len(self._queues)]
        while True:
            try:
                target.put((event, handlers, ack), timeout=_POLL)
                return
            except queue.Full:
                if self._stop.is_set():
                    return  # not acknowledged: delivered again next time

    def _work(self, jobs: queue.Queue[_Job | None]) -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            event, handlers, ack = job
            self._dispatch(event, handlers, self._report)
            ack()

    def close(self, timeout: float = 5.0) -> None:
        """Let the workers finish what they hold, then end them."""
        deadline = time.monotonic() + timeout
        for jobs in self._queues:
            try:
                jobs.put(None, timeout=max(0.01, deadline - time.monotonic()))
            except queue.Full:
                log.warning("receive: a worker is stuck in a handler; not waiting for it")
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def message_filter(
    space: Space | str | None, phone: str | None, include_own: bool
) -> Filter:
    """The filter of ``client.messages()``: received messages only."""
    return Filter(("message",), space, phone, include_own)

