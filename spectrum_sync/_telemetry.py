"""OpenTelemetry traces and metrics, when the application has the API installed.

The library depends on the OpenTelemetry *API* only (the ``otel`` extra) and configures
nothing: without an SDK set up by the application the API's no-op tracer and meter answer.
OpenTelemetry is imported only once the process uses it (it set a tracer or meter
provider, as configuring an SDK or an instrumentation does, or
``OTEL_PYTHON_TRACER_PROVIDER`` / ``OTEL_PYTHON_METER_PROVIDER`` name one): importing it
costs tens of milliseconds, which a one-shot script that records nothing should not pay,
and the API's proxies would cost every received event a span for nothing. Until then, and
without the package, every hook returns at once. Names follow the messaging semantic
conventions; see docs/observability.md for the list.

What goes into attributes: chat guids and phone numbers masked (the last 4 digits kept) and
e-mail addresses masked unless ``SPECTRUM_OTEL_RAW_ADDRESSES`` is true; message guids; error
codes. Never a token, a secret, or the text of a message.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ._envnames import OTEL_RAW_ADDRESSES

if TYPE_CHECKING:
    from ._models import Space

__all__ = ["ClientView", "instruments", "mask", "processing", "received", "traced_send",
           "watch"]

F = TypeVar("F", bound=Callable[..., Any])

SYSTEM = "spectrum"
RAW_ADDRESSES_ENV = OTEL_RAW_ADDRESSES
_SCOPE = "spectrum_sync"
_PHONE = re.compile(r"(\+?)(\d{5,})")
_EMAIL = re.compile(r"[^\s;@]+@([^\s;@]+)")


def mask(text: str) -> str:
    """``text`` with every phone number reduced to its last 4 digits (``+*******1111``) and
    every e-mail address to its domain (``***@example.com``); as is when the environment
    asks for raw addresses."""
    if _raw_addresses():
        return text
    text = _EMAIL.sub(lambda m: f"***@{m.group(1)}", text)
    return _PHONE.sub(lambda m: m.group(1) + "*" * (len(m.group(2)) - 4) + m.group(2)[-4:],
                      text)


@functools.lru_cache(maxsize=1)
def _raw_addresses() -> bool:
    return os.environ.get(RAW_ADDRESSES_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class ClientView:
    """What the metric callbacks read of one client: held weakly, so that observing a
    client never keeps it (or its threads) alive."""

    def __init__(self, health: Callable[[], dict[str, Any]],
                 quota: Callable[[str], Any], phones: Callable[[], list[str]],
                 store_failures: Callable[[], int],
                 token_failures: Callable[[], int]) -> None:
        self.health = health
        self.quota = quota
        self.phones = phones
        self.store_failures = store_failures
        self.token_failures = token_failures


class Instruments:
    """The tracer and meter instruments, made once per process."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace

        self.trace = trace
        self.tracer = trace.get_tracer(_SCOPE)
        meter = metrics.get_meter(_SCOPE)
        self.duration = meter.create_histogram(
            "messaging.client.operation.duration", unit="s",
            description="Duration of a send (the whole logical call, retries included)")
        self.sent = meter.create_counter(
            "messaging.client.sent.messages", unit="{message}",
            description="Messages the client sent (or tried to)")
        self.consumed = meter.create_counter(
            "messaging.client.consumed.messages", unit="{message}",
            description="Events delivered to the application")
        self.process_duration = meter.create_histogram(
            "messaging.process.duration", unit="s",
            description="Time the application's handlers took for one event")
        self.lag = meter.create_histogram(
            "spectrum.receive.lag", unit="s",
            description="From the event's time at the service to its delivery here")
        self.views = _views
        meter.create_observable_counter(
            "spectrum.stream.reconnects", callbacks=[self._reconnects], unit="{reconnect}",
            description="Event stream reconnects per line")
        meter.create_observable_counter(
            "spectrum.catchup.events", callbacks=[self._replayed], unit="{event}",
            description="Events that catch-ups replayed per line (missed while a stream "
                        "was down)")
        meter.create_observable_gauge(
            "spectrum.line.live", callbacks=[self._live], unit="1",
            description="1 while every event stream of the line is live, else 0")
        meter.create_observable_gauge(
            "spectrum.quota.used", callbacks=[self._quota], unit="{message}",
            description="Messages sent today (UTC) per line, as the state store counted")
        meter.create_observable_counter(
            "spectrum.state_store.failures", callbacks=[self._store], unit="{failure}",
            description="State-store operations that failed (the calls went on)")
        meter.create_observable_gauge(
            "spectrum.token.failures", callbacks=[self._token], unit="{failure}",
            description="Consecutive failed token refreshes (0 when the last succeeded)")

    # ----- observations (run by the application's metric reader) ----------------------

    def _each(self, read: Callable[[ClientView], Iterable[tuple[float, dict[str, str]]]]
              ) -> Iterator[Any]:
        from opentelemetry.metrics import Observation

        for view in list(self.views):
            try:
                found = list(read(view))
            except Exception:  # a closed client, a store down: nothing to report
                continue
            for value, attributes in found:
                yield Observation(value, {"messaging.system": SYSTEM, **attributes})

    def _reconnects(self, _options: Any) -> Iterator[Any]:
        return self._each(lambda v: ((h.reconnects, {"spectrum.line": mask(phone)})
                                     for phone, h in v.health().items()))

    def _replayed(self, _options: Any) -> Iterator[Any]:
        return self._each(lambda v: ((h.replayed, {"spectrum.line": mask(phone)})
                                     for phone, h in v.health().items()))

    def _live(self, _options: Any) -> Iterator[Any]:
        return self._each(lambda v: ((1 if h.state == "live" else 0,
                                      {"spectrum.line": mask(phone),
                                       "spectrum.line.state": h.state})
                                     for phone, h in v.health().items()))

    def _quota(self, _options: Any) -> Iterator[Any]:
        return self._each(lambda v: ((v.quota(phone).messages, {"spectrum.line": mask(phone)})
                                     for phone in v.phones()))

    def _store(self, _options: Any) -> Iterator[Any]:
        return self._each(lambda v: [(v.store_failures(), {})])

    def _token(self, _options: Any) -> Iterator[Any]:
        return self._each(lambda v: [(v.token_failures(), {})])


#: Every client's view, held weakly from its construction on: instruments made later (once
#: the process starts using OpenTelemetry) observe the clients made before.
_views: weakref.WeakSet[ClientView] = weakref.WeakSet()
_loaded: Instruments | None = None
_missing = False  # the package is not installed (decided once)
_load_lock = threading.Lock()
_API_MODULES = ("opentelemetry.trace", "opentelemetry.metrics")


@functools.lru_cache(maxsize=1)
def _provider_named_by_environment() -> bool:
    return bool(os.environ.get("OTEL_PYTHON_TRACER_PROVIDER")
                or os.environ.get("OTEL_PYTHON_METER_PROVIDER"))


#: Where the API keeps the providers the application set: module globals, None until then
#: (its ``get_*_provider()`` hand out proxies meanwhile).
_PROVIDER_GLOBALS = (("opentelemetry.trace", "_TRACER_PROVIDER"),
                     ("opentelemetry.metrics._internal", "_METER_PROVIDER"))


def _in_use() -> bool:
    """Whether this process uses OpenTelemetry: it set a tracer or a meter provider (as
    setting up an SDK or an auto-instrumentation does), or ``OTEL_PYTHON_*_PROVIDER`` names
    one. Importing the API is not enough: libraries import it for their own optional
    telemetry (``import redis`` does, since redis 8) while nothing records, and the API's
    proxies would then cost every received event a span and a counter for nothing. A few
    dictionary look-ups: the hooks run for every event."""
    modules = sys.modules
    if _API_MODULES[0] in modules or _API_MODULES[1] in modules:
        for module_name, name in _PROVIDER_GLOBALS:
            module = modules.get(module_name)
            # Set; or an API that keeps it elsewhere, taken as used (as before this check).
            if module is not None and getattr(module, name, True) is not None:
                return True
    return _provider_named_by_environment()


def instruments() -> Instruments | None:
    """The instruments, or None while the process does not use OpenTelemetry (checked at
    each hook until it does) or when the package is not installed (decided once)."""
    global _loaded, _missing
    tools = _loaded
    if tools is not None or _missing or not _in_use():
        return tools
    with _load_lock:
        if _loaded is None and not _missing:
            if importlib.util.find_spec("opentelemetry") is None:
                _missing = True
            else:
                _loaded = Instruments()
    return _loaded


def watch(view: ClientView) -> None:
    """Report ``view``'s client in the observed metrics while it lives (also when the
    instruments are made after it)."""
    _views.add(view)
    instruments()  # a client made after the SDK was set up is observed from now on


def _error_type(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) and code else type(exc).__qualname__


def traced_send(method: F) -> F:
    """Decorate a ``Space`` method that sends a message: a producer span and the send
    metrics around it. Without OpenTelemetry it only calls the method."""

    @functools.wraps(method)
    def send(space: Space, *args: Any, **kwargs: Any) -> Any:
        tools = instruments()
        if tools is None:
            return method(space, *args, **kwargs)
        return _send(tools, method, space, args, kwargs)

    return send  # type: ignore[return-value]


def _send(tools: Instruments, method: Callable[..., Any], space: Space,
          args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    trace = tools.trace
    destination = mask(space.id)
    attributes = {"messaging.system": SYSTEM, "messaging.operation.type": "send",
                  "messaging.operation.name": "send"}
    started = time.perf_counter()
    with tools.tracer.start_as_current_span(
            f"send {destination}", kind=trace.SpanKind.PRODUCER,
            attributes={**attributes, "messaging.destination.name": destination,
                        "spectrum.line": mask(space.phone)},
            record_exception=False, set_status_on_exception=False) as span:
        try:
            message = method(space, *args, **kwargs)
        except BaseException as exc:
            error = _error_type(exc)
            span.set_attribute("error.type", error)
            span.set_status(trace.Status(trace.StatusCode.ERROR, error))
            failed = {**attributes, "error.type": error}
            tools.duration.record(time.perf_counter() - started, failed)
            tools.sent.add(1, failed)
            raise
        span.set_attribute("messaging.message.id", message.guid)
    tools.duration.record(time.perf_counter() - started, attributes)
    tools.sent.add(1, attributes)
    return message


def _event_attributes(event: Any, operation: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {"messaging.system": SYSTEM,
                                  "messaging.operation.type": operation,
                                  "messaging.operation.name": operation}
    space = getattr(event, "space", None)
    if space is not None:
        attributes["messaging.destination.name"] = mask(space.id)
        attributes["spectrum.line"] = mask(space.phone)
    guid = next((value for name in ("guid", "message_guid", "poll_guid")
                 if isinstance(value := getattr(event, name, None), str)), None)
    if guid:
        attributes["messaging.message.id"] = guid
    attributes["spectrum.event.kind"] = getattr(event, "kind", type(event).__name__)
    return attributes


def _lag(tools: Instruments, event: Any) -> None:
    for name in ("created_at", "occurred_at", "edited_at", "unsent_at", "read_at"):
        moment = getattr(event, name, None)
        if isinstance(moment, datetime) and moment.tzinfo is not None:
            tools.lag.record(max(time.time() - moment.timestamp(), 0.0),
                             {"messaging.system": SYSTEM})
            return


def received(event: Any) -> None:
    """An event handed to a ``for`` loop (pull mode): a short ``receive`` consumer span,
    the consumed counter and the receive lag."""
    tools = instruments()
    if tools is None:
        return
    attributes = _event_attributes(event, "receive")
    destination = attributes.get("messaging.destination.name", "")
    tools.tracer.start_span(f"receive {destination}".rstrip(),
                            kind=tools.trace.SpanKind.CONSUMER, attributes=attributes).end()
    tools.consumed.add(1, {k: attributes[k] for k in ("messaging.system",
                                                      "messaging.operation.name")})
    _lag(tools, event)


def _no_failure(_exc: BaseException) -> None:
    pass


@contextmanager
def processing(event: Any) -> Iterator[Callable[[BaseException], None]]:
    """Run the application's handlers for ``event`` inside a ``process`` consumer span (so
    that their own spans nest under it), with the consumed counter and process duration.
    Yields ``failed(exc)``, which marks the span and metrics with a handler's error."""
    tools = instruments()
    if tools is None:
        yield _no_failure
        return
    trace = tools.trace
    attributes = _event_attributes(event, "process")
    destination = attributes.get("messaging.destination.name", "")
    metric = {k: attributes[k] for k in ("messaging.system", "messaging.operation.name")}
    started = time.perf_counter()
    with tools.tracer.start_as_current_span(
            f"process {destination}".rstrip(), kind=trace.SpanKind.CONSUMER,
            attributes=attributes, record_exception=False,
            set_status_on_exception=False) as span:

        def failed(exc: BaseException) -> None:
            nonlocal metric
            error = _error_type(exc)
            span.set_attribute("error.type", error)
            span.set_status(trace.Status(trace.StatusCode.ERROR, error))
            metric = {**metric, "error.type": error}

        try:
            yield failed
        except BaseException as exc:
            failed(exc)
            raise
        finally:
            tools.process_duration.record(time.perf_counter() - started, metric)
            tools.consumed.add(1, metric)
    _lag(tools, event)
