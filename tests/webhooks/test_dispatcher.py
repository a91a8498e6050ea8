"""``WebhookDispatcher``: the statuses the official handler answers, deduplication by message
id, failing handlers retried, filters, and actions through a real client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hook_helpers import SECRET, body_of, envelope, signed_headers

import spectrum_sync as spectrum
from spectrum_sync.emulator import Emulator
from spectrum_sync.webhooks import (
    SEEN_GROUP,
    CustomContent,
    WebhookDispatcher,
    WebhookEnvelope,
    WebhookResponse,
)

TEXT = {"type": "text", "text": "hello"}


def request(content: dict[str, Any] = TEXT, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
    body = body_of(envelope(content, **kwargs))
    return body, signed_headers(body)


@pytest.fixture
def hooks() -> WebhookDispatcher:
    return WebhookDispatcher(SECRET)


def test_a_verified_delivery_runs_the_handlers_once(hooks: WebhookDispatcher) -> None:
    seen: list[Any] = []
    hooks.on_webhook(seen.append)
    body, headers = request()
    assert hooks.handle(body, headers) == WebhookResponse(200, "ok")
    assert [m.text for m in seen] == ["hello"]
    # A second delivery of the same message (at-least-once): acknowledged, not run again.
    assert hooks.handle(body, signed_headers(body)).status == 200
    assert len(seen) == 1
    assert hooks.dedupe.store.has_member(SEEN_GROUP, "M1")


@pytest.mark.parametrize(("mutate", "status"), [
    (lambda b, h: (b, {}), 400),
    (lambda b, h: (b, {**h, "X-Spectrum-Timestamp": "soon"}), 400),
    (lambda b, h: (b + b" ", h), 401),
    (lambda b, h: (b, signed_headers(b, secret="other")), 401),
    (lambda b, h: (b, signed_headers(b, timestamp=1_000_000_000)), 401),
    (lambda b, h: (b"{not json", signed_headers(b"{not json")), 400),
    (lambda b, h: (b'{"event":"messages"}', signed_headers(b'{"event":"messages"}')), 400),
])
def test_refusals(hooks: WebhookDispatcher, mutate: Any, status: int) -> None:
    seen: list[Any] = []
    hooks.on_webhook(seen.append)
    body, headers = mutate(*request())
    assert hooks.handle(body, headers).status == status
    assert seen == []


def test_no_secret_is_500() -> None:
    for secret in (None, "", lambda: None):
        hooks = WebhookDispatcher(secret)
        assert hooks.handle(*request()) == WebhookResponse(500, "webhook secret not configured")


def test_unknown_event_types_are_acknowledged(hooks: WebhookDispatcher) -> None:
    seen: list[Any] = []
    hooks.on_webhook(seen.append)
    body = b'{"event": "space.archived", "space": {"id": "x"}}'
    assert hooks.handle(body, signed_headers(body)).status == 200
    assert seen == []


def test_a_failing_handler_is_500_and_runs_again_on_the_retry(
        hooks: WebhookDispatcher) -> None:
    calls: list[str] = []

    @hooks.on_webhook("message")
    def flaky(msg: spectrum.Message) -> None:
        calls.append(msg.guid)
        if len(calls) == 1:
            raise RuntimeError("database down")

    body, headers = request()
    assert hooks.handle(body, headers) == WebhookResponse(500, "handler failed")
    assert not hooks.dedupe.seen("M1")
    assert hooks.handle(body, signed_headers(body)).status == 200
    assert hooks.handle(body, signed_headers(body)).status == 200
    assert calls == ["M1", "M1"]


def test_kind_filters_and_the_envelope(hooks: WebhookDispatcher) -> None:
    got: list[tuple[str, Any]] = []
    hooks.on_webhook("reaction")(lambda e: got.append(("reaction", e.emoji)))
    hooks.on_webhook("message", "custom")(lambda e: got.append(("msg-or-custom", e.kind)))

    @hooks.on_webhook(with_envelope=True)
    def everything(event: Any, env: WebhookEnvelope) -> None:
        got.append(("all", env.content_type))

    target = {"id": "T"}
    for content, mid in ((TEXT, "a"), ({"type": "reaction", "emoji": "❤️", "target": target},
                                       "b"), ({"type": "poll", "title": "Q"}, "c")):
        body, headers = request(content, message_id=mid)
        assert hooks.handle(body, headers).status == 200
    assert got == [("msg-or-custom", "message"), ("all", "text"), ("reaction", "❤️"),
                   ("all", "reaction"), ("msg-or-custom", "custom"), ("all", "poll")]
    assert len(hooks.handlers) == 3
    with pytest.raises(ValueError, match="unknown event kind"):
        hooks.on_webhook("messages")


def test_a_concurrent_copy_waits_for_the_first(hooks: WebhookDispatcher) -> None:
    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []

    @hooks.on_webhook
    def slow(msg: spectrum.Message) -> None:
        calls.append(msg.guid)
        entered.set()
        release.wait(10)

    body, headers = request()
    first: list[WebhookResponse] = []
    thread = threading.Thread(target=lambda: first.append(hooks.handle(body, headers)))
    thread.start()
    assert entered.wait(10)
    # The same message while the first copy runs: "come back later", never run twice.
    assert hooks.handle(body, signed_headers(body)).status == 409
    release.set()
    thread.join(10)
    assert first == [WebhookResponse(200, "ok")]
    assert hooks.handle(body, signed_headers(body)).status == 200
    assert calls == ["M1"]


class SlowStore:
    """A store whose every answer comes ``delay`` seconds after the operation took effect
    (a store across a slow network)."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def slow(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            time.sleep(self.delay)
            return result

        return slow


@pytest.fixture(params=["memory", "sqlite", "redis"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Each real store in turn, as the processes of one app would share it."""
    if request.param == "memory":
        store: Any = spectrum.MemoryStore()
    elif request.param == "sqlite":
        store = spectrum.SQLiteStore(tmp_path / "state.db")
    else:
        from support.redis_server import RedisServer

        server = RedisServer()
        request.addfinalizer(server.close)
        store = spectrum.RedisStore(server.url, namespace="hooks")
    yield store
    store.close()


def test_copies_at_once_run_the_handlers_once_even_with_a_slow_store(
        shared_store: Any) -> None:
    # Two dispatchers (two processes' views) and two threads each, all on one slow store:
    # whichever copy claims the id first runs the handlers; every other copy is answered
    # without running them.
    store = SlowStore(shared_store, delay=0.3)
    calls: list[str] = []
    dispatchers = [WebhookDispatcher(SECRET, store=store) for _ in range(2)]
    for hooks in dispatchers:
        hooks.on_webhook(lambda msg: calls.append(msg.guid))
    body, _ = request()
    answers: list[int] = []
    start = threading.Barrier(4)

    def deliver(hooks: WebhookDispatcher, pause: float) -> None:
        start.wait(10)
        time.sleep(pause)
        answers.append(hooks.handle(body, signed_headers(body)).status)

    threads = [threading.Thread(target=deliver, args=(hooks, pause))
               for hooks in dispatchers for pause in (0.0, 0.1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert calls == ["M1"]
    assert sorted(answers)[0] == 200 and set(answers) <= {200, 409}
    # Later copies are acknowledged as repeats.
    assert dispatchers[1].handle(body, signed_headers(body)) == WebhookResponse(
        200, "ok (duplicate)")
    assert calls == ["M1"]


def test_a_failed_delivery_gives_up_its_claim_in_every_store(shared_store: Any) -> None:
    hooks = WebhookDispatcher(SECRET, store=shared_store)
    calls: list[str] = []

    @hooks.on_webhook
    def flaky(msg: spectrum.Message) -> None:
        calls.append(msg.guid)
        if len(calls) == 1:
            raise RuntimeError("database down")

    body, _ = request()
    assert hooks.handle(body, signed_headers(body)).status == 500
    other = WebhookDispatcher(SECRET, store=shared_store, handlers_from=hooks)
    assert other.handle(body, signed_headers(body)) == WebhookResponse(200, "ok")
    assert hooks.handle(body, signed_headers(body)).status == 200
    assert calls == ["M1", "M1"]


class BrokenStore(spectrum.MemoryStore):
    def has_member(self, group: str, member: str) -> bool:
        raise spectrum.StateStoreError("store down")

    def add_member(self, group: str, member: str) -> bool:
        raise spectrum.StateStoreError("store down")


def test_a_failing_store_never_loses_an_event(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Any] = []
    hooks = WebhookDispatcher(SECRET, store=BrokenStore())
    hooks.on_webhook(seen.append)
    body, headers = request()
    assert hooks.handle(body, headers).status == 200
    assert hooks.handle(body, signed_headers(body)).status == 200
    assert len(seen) == 2  # at least once: a repeat, never a loss
    assert "state store" in caplog.text


def test_a_body_over_the_limit_is_413() -> None:
    hooks = WebhookDispatcher(SECRET, max_body=100)
    body = body_of(envelope({"type": "text", "text": "x" * 200}))
    assert hooks.handle(body, signed_headers(body)).status == 413


def test_custom_content_reaches_handlers_with_its_raw_json(hooks: WebhookDispatcher) -> None:
    seen: list[Any] = []
    hooks.on_webhook("custom")(seen.append)
    body, headers = request({"type": "poll_option", "title": "a", "selected": True},
                            message_id="P1:poll:9")
    assert hooks.handle(body, headers).status == 200
    [event] = seen
    assert isinstance(event, CustomContent)
    assert event.raw["selected"] is True and event.id == "P1:poll:9"


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """Two dedicated lines and the emulator's own heartbeat."""
    return {"plan": "dedicated", "lines": ["+15550000001", "+15550000002"],
            "heartbeat_interval": 30.0}


def test_with_a_client_the_events_act_on_the_right_line(emu: Emulator) -> None:
    with emu.client() as client:
        hooks = WebhookDispatcher(SECRET, client=client, store=client.state)

        @hooks.on_webhook("message")
        def answer(msg: spectrum.Message) -> None:
            msg.reply("got it", idempotency_key=f"ack-{msg.guid}")
            msg.react("👍")

        guid = emu.simulate_inbound("+15551111111", "hi", line="+15550000002")
        content = {"type": "text", "text": "hi"}
        space = {"id": "any;-;+15551111111", "platform": "iMessage", "phone": "+15550000002"}
        body = body_of(envelope(content, message_id=guid, space=space))
        assert hooks.handle(body, signed_headers(body)).status == 200
        assert client.state.has_member(SEEN_GROUP, guid)
    [reply] = [m for m in emu.messages() if m["is_from_me"]]
    assert (reply["text"], reply["line"]) == ("got it", "+15550000002")
    assert any(c.method == "SetReaction" for c in emu.requests)


def test_handled_ids_are_remembered_for_a_while_not_for_ever(tmp_path: Path) -> None:
    from spectrum_sync import SQLiteStore
    from spectrum_sync.webhooks import SEEN_TTL, Deduplicator

    assert SEEN_TTL >= 86_400  # longer than Spectrum's retries
    store = SQLiteStore(tmp_path / "state.db")
    try:
        seen = Deduplicator(store, ttl=0.2)
        assert seen.mark("M1") is True and seen.seen("M1")
        assert seen.mark("M1") is False
        time.sleep(0.3)
        assert not seen.seen("M1")  # forgotten: the record stays bounded
    finally:
        store.close()
