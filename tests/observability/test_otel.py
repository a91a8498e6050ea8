"""OpenTelemetry: spans and metrics as the application's SDK records them (the SDK's
in-memory exporter and metric reader), against the emulator over real sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.receiving import take, wait_until

import spectrum_sync as spectrum
from spectrum_sync import _telemetry
from spectrum_sync.emulator import Emulator

LINE, ALICE = "+15550000001", "+15551111111"
TEXT = "the secret plan for Tuesday"


class Recorded:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.reader = InMemoryMetricReader()

    def finished(self, name_prefix: str = "") -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name.startswith(name_prefix)]

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        found.extend(item.data.data_points)
        return found


@pytest.fixture(scope="module")
def recorded() -> Iterator[Recorded]:
    """The application's SDK: set once per process (OpenTelemetry allows no second one),
    shut down after this module so that later tests record nothing."""
    rec = Recorded()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(rec.spans))
    trace.set_tracer_provider(tracer_provider)
    meter_provider = MeterProvider(metric_readers=[rec.reader])
    metrics.set_meter_provider(meter_provider)
    yield rec
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
def rec(recorded: Recorded) -> Recorded:
    recorded.spans.clear()
    return recorded


def _every_attribute(spans: list[ReadableSpan]) -> str:
    return json.dumps([dict(s.attributes or {}) for s in spans], default=str)


def _total(points: list[Any], **attributes: Any) -> float:
    return sum(p.value if hasattr(p, "value") else p.count for p in points
               if all(p.attributes.get(k) == v for k, v in attributes.items()))


def test_a_send_is_a_producer_span_with_masked_addresses(rec: Recorded,
                                                         emu: Emulator) -> None:
    with emu.client() as client:
        space = client.space.create(client.user(ALICE, resolve=False), phone=LINE)
        message = space.send(TEXT)
    [span] = rec.finished("send ")
    assert span.name == "send any;-;+*******1111"
    assert span.kind == trace.SpanKind.PRODUCER
    attributes = dict(span.attributes or {})
    assert attributes["messaging.system"] == "spectrum"
    assert attributes["messaging.operation.type"] == "send"
    assert attributes["messaging.destination.name"] == "any;-;+*******1111"
    assert attributes["messaging.message.id"] == message.guid
    assert attributes["spectrum.line"] == "+*******0001"
    assert span.status.status_code != trace.StatusCode.ERROR
    everything = _every_attribute(rec.finished())
    assert ALICE not in everything and LINE not in everything and TEXT not in everything
    assert _total(rec.points("messaging.client.sent.messages"),
                  **{"messaging.operation.name": "send"}) >= 1
    assert _total(rec.points("messaging.client.operation.duration")) >= 1


def test_a_failed_send_records_its_error_type(rec: Recorded, emu: Emulator) -> None:
    with emu.client() as client:
        space = client.space.create(client.user(ALICE, resolve=False), phone=LINE)
        emu.fail_next(1, code="INVALID_ARGUMENT", retryable=False,
                      method="SendTextMessage")
        with pytest.raises(spectrum.ValidationError):
            space.send(TEXT)
    [span] = rec.finished("send ")
    assert span.status.status_code == trace.StatusCode.ERROR
    error = dict(span.attributes or {})["error.type"]
    assert error and error != "ValidationError"  # the service's code, not a class name
    assert not span.events  # no exception event: its message could hold an address
    failed = _total(rec.points("messaging.client.sent.messages"), **{"error.type": error})
    assert failed >= 1


def test_handlers_run_inside_a_process_span(rec: Recorded, emu: Emulator) -> None:
    tracer = trace.get_tracer("the-application")
    seen = threading.Event()
    with emu.client() as client:

        @client.on_message
        def handle(message: spectrum.Message) -> None:
            with tracer.start_as_current_span("application work"):
                seen.set()

        handle_ = client.start()
        try:
            wait_until(lambda: client.health()[LINE].state == "live")
            emu.simulate_inbound(ALICE, TEXT, line=LINE)
            assert seen.wait(10)
        finally:
            handle_.stop()
    assert wait_until(lambda: bool(rec.finished("process ")))
    [process] = rec.finished("process ")
    [work] = rec.finished("application work")
    assert process.kind == trace.SpanKind.CONSUMER
    assert work.parent is not None and work.parent.span_id == process.context.span_id
    assert dict(process.attributes or {})["messaging.operation.type"] == "process"
    assert TEXT not in _every_attribute([process])
    assert _total(rec.points("messaging.process.duration")) >= 1
    assert _total(rec.points("messaging.client.consumed.messages"),
                  **{"messaging.operation.name": "process"}) >= 1


def test_a_received_message_and_a_reconnect_are_counted(rec: Recorded,
                                                        emu: Emulator) -> None:
    with emu.client() as client, client.messages() as inbox:
        emu.simulate_inbound(ALICE, "one", line=LINE)
        take(inbox, 1)
        emu.cut_streams()
        assert wait_until(lambda: client.health()[LINE].reconnects >= 1, 20)
        emu.simulate_inbound(ALICE, "two", line=LINE)
        take(inbox, 1)
        reconnects = _total(rec.points("spectrum.stream.reconnects"),
                            **{"spectrum.line": "+*******0001"})
        live = rec.points("spectrum.line.live")
    assert reconnects >= 1
    assert any(p.attributes.get("spectrum.line") == "+*******0001" for p in live)
    assert len(rec.finished("receive ")) == 2
    assert _total(rec.points("spectrum.receive.lag")) >= 2
    assert _total(rec.points("messaging.client.consumed.messages"),
                  **{"messaging.operation.name": "receive"}) >= 2


def test_raw_addresses_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_telemetry.RAW_ADDRESSES_ENV, "true")
    _telemetry._raw_addresses.cache_clear()
    try:
        assert _telemetry.mask("any;-;+15551111111") == "any;-;+15551111111"
    finally:
        monkeypatch.delenv(_telemetry.RAW_ADDRESSES_ENV)
        _telemetry._raw_addresses.cache_clear()
    assert _telemetry.mask("any;-;+15551111111") == "any;-;+*******1111"
    assert _telemetry.mask("any;-;Bob.Smith@Example.com") == "any;-;***@Example.com"
    assert _telemetry.mask("any;+;chat42") == "any;+;chat42"


def test_grpc_instrumentation_nests_under_our_spans(rec: Recorded, emu: Emulator) -> None:
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient

    instrumentor = GrpcInstrumentorClient()
    instrumentor.instrument()
    try:
        with emu.client() as client:
            space = client.space.create(client.user(ALICE, resolve=False), phone=LINE)
            space.send(TEXT)
    finally:
        instrumentor.uninstrument()
    [send] = rec.finished("send ")
    calls = [s for s in rec.finished() if "SendTextMessage" in s.name]
    assert calls, [s.name for s in rec.finished()]
    assert all(c.parent is not None and c.parent.span_id == send.context.span_id
               for c in calls)


_WITHOUT_OTEL = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, Hide())
import importlib.util
importlib.util.find_spec = (lambda real: lambda name, *a: None
                            if name.startswith("opentelemetry") else real(name, *a))(
    importlib.util.find_spec)
from spectrum_sync.emulator import Emulator
with Emulator(lines=["+15550000001"]) as emu, emu.client() as client:
    message = client.space.create(client.user("+15551111111", resolve=False)).send("hi")
    with client.messages() as inbox:
        emu.simulate_inbound("+15551111111", "back", line="+15550000001")
        next(iter(inbox))
print(message.guid, sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""

_WITHOUT_SDK = """
from spectrum_sync.emulator import Emulator
import sys
with Emulator(lines=["+15550000001"]) as emu, emu.client() as client:
    message = client.space.create(client.user("+15551111111", resolve=False)).send("hi")
from opentelemetry import trace
print(message.guid, type(trace.get_tracer_provider()).__name__,
      "opentelemetry" in sys.modules)
"""


def test_without_the_package_nothing_of_opentelemetry_is_imported() -> None:
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_OTEL], capture_output=True,
                          text=True, timeout=60, env=os.environ)
    assert proc.returncode == 0, proc.stderr
    guid, modules = proc.stdout.strip().split(" ", 1)
    assert guid and modules == "[]"


def test_with_the_api_and_no_sdk_sends_work_and_record_nothing() -> None:
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_SDK], capture_output=True,
                          text=True, timeout=60, env=os.environ)
    assert proc.returncode == 0, proc.stderr
    guid, provider, imported = proc.stdout.split()
    assert guid and provider == "ProxyTracerProvider" and imported == "True"


def test_events_missed_while_down_are_counted_as_replayed(rec: Recorded, emu: Emulator,
                                                          tmp_path: Any) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    with emu.client(state=state) as client, client.messages() as inbox:
        emu.simulate_inbound(ALICE, "before", line=LINE)
        take(inbox, 1)
    emu.simulate_inbound(ALICE, "while down", line=LINE)
    with emu.client(state=state) as client, client.messages() as inbox:
        [missed] = take(inbox, 1)
        assert missed.text == "while down"
        assert client.health()[LINE].replayed >= 1
        replayed = _total(rec.points("spectrum.catchup.events"),
                          **{"spectrum.line": "+*******0001"})
    assert replayed >= 1


_UNUSED = """
import sys
from spectrum_sync.emulator import Emulator
with Emulator(lines=["+15550000001"]) as emu, emu.client() as client:
    message = client.space.create(client.user("+15551111111")).send("hi")
print(message.guid, sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""


def test_installed_but_unused_it_is_not_imported() -> None:
    # A one-shot script that configures no SDK does not pay for importing OpenTelemetry.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_PYTHON_")}
    proc = subprocess.run([sys.executable, "-c", _UNUSED], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    guid, modules = proc.stdout.strip().split(" ", 1)
    assert guid and modules == "[]"


_SET_UP_LATER = """
import sys
from spectrum_sync.emulator import Emulator
with Emulator(lines=["+15550000001"]) as emu, emu.client() as client:
    space = client.space.create(client.user("+15551111111", resolve=False))
    space.send("before")
    assert "opentelemetry.trace" not in sys.modules
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    space.send("after")
    names = {m.name for r in reader.get_metrics_data().resource_metrics
             for s in r.scope_metrics for m in s.metrics}
print(len(spans.get_finished_spans()), "spectrum.line.live" in names,
      "messaging.client.sent.messages" in names)
"""


def test_an_sdk_set_up_after_the_client_is_made_records_it() -> None:
    # The instruments are made when the process starts using OpenTelemetry: the client
    # made before is observed (line state) and its next send is traced.
    proc = subprocess.run([sys.executable, "-c", _SET_UP_LATER], capture_output=True,
                          text=True, timeout=60, env=os.environ)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "True", "True"]


_API_IMPORTED_ONLY = """
import sys
import opentelemetry.metrics, opentelemetry.trace  # as a library's import may (redis 8's)
from spectrum_sync import _telemetry
from spectrum_sync.emulator import Emulator
with Emulator(lines=["+15550000001"]) as emu, emu.client() as client:
    space = client.space.create(client.user("+15551111111", resolve=False))
    space.send("before")
    with client.messages() as inbox:
        emu.simulate_inbound("+15551111111", "back", line="+15550000001")
        next(iter(inbox))
    unused = _telemetry._loaded is None
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(provider)
    space.send("after")
print(unused, [s.name.split()[0] for s in spans.get_finished_spans()])
"""


def test_the_api_imported_without_a_provider_costs_nothing_per_event() -> None:
    # Importing the API is not using it: a library may import it for its own optional
    # metrics while nothing records. Then neither a send nor a received event pays for a
    # no-op span; once the application sets a provider, the next send is traced.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_PYTHON_")}
    proc = subprocess.run([sys.executable, "-c", _API_IMPORTED_ONLY], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "['send']"]
