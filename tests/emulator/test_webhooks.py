"""The emulator delivers inbound events as Spectrum's native webhooks to a real HTTP server:
signed, at-least-once, retried with backoff, up to 6 attempts, never slowing the emulator."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from admin_http import call
from emu_helpers import ALICE, BOB, LINE_A, Api
from webhook_receiver import (
    HANG,
    TRICKLE,
    TRICKLE_DELAY,
    Received,
    Receiver,
    message_id,
    verify,
)

from spectrum_sync._proto import chats_pb2, messages_pb2
from spectrum_sync.emulator import Emulator

SECRET = "webhook-test-secret"


@pytest.fixture
def make_receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(answer: Callable[[Received, int], int] | None = None) -> Receiver:
        receiver = Receiver(answer)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def receiver(make_receiver: Callable[..., Receiver]) -> Receiver:
    return make_receiver()


@pytest.fixture
def hooked(make_emu: Callable[..., Emulator], receiver: Receiver) -> Emulator:
    return make_emu(webhook_url=receiver.url, webhook_secret=SECRET, webhook_retry_base=0.02)


@pytest.fixture
def hooked_api(hooked: Emulator, make_api: Callable[..., Api]) -> Api:
    """Stubs for LINE_A of ``hooked``."""
    return make_api(hooked, LINE_A)


def _send(api: Api, text: str, to: str = ALICE) -> messages_pb2.Message:
    return api.messages.SendTextMessage(
        messages_pb2.SendTextMessageRequest(chat_guid=f"any;-;{to}", text=text),
        metadata=api.md, timeout=5).message


# -- the wire format --------------------------------------------------------------------------


def test_an_inbound_message_is_posted_signed_in_the_native_format(
        hooked: Emulator, receiver: Receiver) -> None:
    guid = hooked.simulate_inbound(ALICE, "hey, what time is dinner?", line=LINE_A)
    (request,) = receiver.wait_for(1)
    assert request.path == "/spectrum/webhook?x=1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-spectrum-event"] == "messages"
    assert request.headers["user-agent"].startswith("spectrum-webhook/")
    assert len(request.headers["x-spectrum-webhook-id"]) == 36
    verify(request, SECRET)
    space = {"id": f"any;-;{ALICE}", "platform": "iMessage", "type": "dm", "phone": LINE_A}
    assert request.json() == {
        "event": "messages",
        "space": space,
        "message": {
            "id": guid, "platform": "iMessage", "direction": "inbound",
            "timestamp": "2026-03-01T12:00:00.000Z",
            "sender": {"id": ALICE, "platform": "iMessage", "address": ALICE,
                       "service": "iMessage", "country": "US"},
            "space": space,
            "content": {"type": "text", "text": "hey, what time is dinner?"},
        },
    }
    assert hooked.wait_for_webhooks(5)
    (delivery,) = hooked.webhook_deliveries
    assert (delivery.event_id, delivery.content_type, delivery.line) == (guid, "text", LINE_A)
    assert (delivery.attempts, delivery.last_status, delivery.state) == (1, 200, "delivered")
    assert delivery.delivered and not delivery.dropped


def test_signature_covers_the_exact_bytes(hooked: Emulator, receiver: Receiver) -> None:
    hooked.simulate_inbound(ALICE, "emoji 🙂 and \"quotes\"", line=LINE_A)
    (request,) = receiver.wait_for(1)
    verify(request, SECRET)
    assert "🙂".encode() in request.body  # UTF-8, not \\u escapes
    tampered = Received(request.path, request.headers, request.body.replace(b"emoji", b"EMOJI"))
    with pytest.raises(AssertionError):
        verify(tampered, SECRET)
    with pytest.raises(AssertionError):
        verify(request, secret="another secret")


def test_the_lines_own_actions_are_not_posted(hooked: Emulator, receiver: Receiver,
                                              hooked_api: Api) -> None:
    api = hooked_api
    sent = _send(api, "from the line")
    api.messages.EditMessage(messages_pb2.EditMessageRequest(
        target=messages_pb2.MessageTarget(chat_guid=f"any;-;{ALICE}", message_guid=sent.guid),
        new_text="edited"), metadata=api.md, timeout=5)
    api.chats.MarkChatRead(chats_pb2.MarkChatReadRequest(chat_guid=f"any;-;{ALICE}"),
                           metadata=api.md, timeout=5)
    hooked.simulate_inbound(ALICE, "marker", line=LINE_A)
    receiver.wait_for(1)
    assert hooked.wait_for_webhooks(5)
    time.sleep(0.2)
    assert [b["message"]["content"] for b in receiver.bodies()] == [
        {"type": "text", "text": "marker"}]


def test_every_content_type_the_simulator_produces(hooked: Emulator, receiver: Receiver,
                                                   hooked_api: Api) -> None:
    api = hooked_api
    mine = _send(api, "our message")
    theirs = hooked.simulate_inbound(ALICE, "their message", line=LINE_A)
    hooked.simulate_reaction(ALICE, mine.guid, "❤️", line=LINE_A)
    hooked.simulate_reaction(ALICE, mine.guid, "🎉", line=LINE_A, part=0)
    hooked.simulate_reaction(ALICE, mine.guid, "❤️", remove=True, line=LINE_A)  # no webhook
    hooked.simulate_read(mine.guid, line=LINE_A)
    reply = hooked.simulate_inbound(ALICE, "answering", line=LINE_A, reply_to=mine.guid)
    photo = hooked.simulate_inbound(ALICE, None, line=LINE_A,
                                    attachment=("cat.png", b"\x89PNG\r\n\x1a\n" + b"0" * 10))
    both = hooked.simulate_inbound(ALICE, "see this", line=LINE_A,
                                   attachment=("notes.txt", b"hello"))
    hooked.simulate_edit(theirs, "edited", line=LINE_A)  # no webhook
    hooked.simulate_unsend(theirs, line=LINE_A)  # no webhook
    group = "any;+;chat42"
    hooked.simulate_group_change(group, "rename", actor=ALICE, name="Dinner", line=LINE_A)
    hooked.simulate_group_change(group, "participant_added", actor=ALICE, participant=BOB,
                                 line=LINE_A)
    hooked.simulate_group_change(group, "participant_removed", actor=ALICE, participant=BOB,
                                 line=LINE_A)
    hooked.simulate_group_change(group, "participant_left", participant=ALICE, line=LINE_A)
    hooked.simulate_group_change(group, "icon_changed", actor=BOB, icon=b"\x89PNG\r\n\x1a\n",
                                 line=LINE_A)
    hooked.simulate_group_change(group, "icon_removed", actor=BOB, line=LINE_A)
    poll = hooked.simulate_poll(BOB, group, "Where?", ["Here", "There"], line=LINE_A)
    hooked.simulate_poll_vote(BOB, poll, "There", line=LINE_A)
    hooked.simulate_poll_option(BOB, poll, "Nowhere", line=LINE_A)  # no webhook
    hooked.simulate_poll_unvote(BOB, poll, line=LINE_A)

    expected = 16
    receiver.wait_for(expected)
    assert hooked.wait_for_webhooks(5)
    time.sleep(0.2)
    bodies = receiver.bodies()
    assert len(bodies) == expected
    for request in receiver.received:
        verify(request, SECRET)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for body in sorted(bodies, key=lambda b: b["message"]["id"]):
        by_type.setdefault(body["message"]["content"]["type"], []).append(body["message"])
    assert sorted(by_type) == ["addMember", "attachment", "avatar", "group", "leaveSpace",
                               "poll", "poll_option", "reaction", "read", "removeMember",
                               "rename", "reply", "text"]

    assert [m["id"] for m in by_type["text"]] == [theirs]
    target = {"id": mine.guid, "contentPreview": "our message",
              "sender": {"id": LINE_A, "platform": "iMessage", "address": LINE_A,
                         "service": "iMessage"},
              "timestamp": "2026-03-01T12:00:00.000Z"}
    reactions = {m["content"]["emoji"]: m for m in by_type["reaction"]}
    assert set(reactions) == {"❤️", "🎉"}
    assert reactions["❤️"]["content"]["target"] == target
    assert reactions["❤️"]["sender"]["id"] == ALICE
    assert reactions["❤️"]["id"].startswith(f"{mine.guid}:reaction:")
    assert reactions["🎉"]["id"].endswith(":0")
    (read,) = by_type["read"]
    assert read["content"] == {"type": "read", "target": target}
    assert read["id"].startswith(f"{mine.guid}:read:")
    assert read["sender"]["id"] == ALICE
    (answer,) = by_type["reply"]
    assert answer["id"] == reply
    assert answer["content"] == {"type": "reply", "content": {"type": "text", "text":
                                                              "answering"},
                                 "target": target}
    (attachment,) = by_type["attachment"]
    assert attachment["id"] == photo
    content = attachment["content"]
    assert (content["name"], content["mimeType"], content["size"]) == ("cat.png", "image/png",
                                                                       18)
    assert content["id"]
    (multi,) = by_type["group"]
    assert multi["id"] == both
    items = multi["content"]["items"]
    assert [i["content"]["type"] for i in items] == ["text", "attachment"]
    assert items[1]["content"]["name"] == "notes.txt"

    assert by_type["rename"][0]["content"] == {"type": "rename", "displayName": "Dinner"}
    assert by_type["rename"][0]["space"]["type"] == "group"
    assert by_type["rename"][0]["id"].startswith(f"{group}:group:")
    assert by_type["addMember"][0]["content"] == {"type": "addMember", "members": [BOB]}
    assert by_type["removeMember"][0]["content"] == {"type": "removeMember", "members": [BOB]}
    assert by_type["leaveSpace"][0]["sender"]["id"] == ALICE  # the one who left
    actions = sorted(json.dumps(m["content"]["action"]) for m in by_type["avatar"])
    assert actions == ['{"kind": "clear"}', '{"kind": "set", "mimeType": "image/png"}']
    (created,) = by_type["poll"]
    assert created["content"] == {"type": "poll", "title": "Where?",
                                  "options": [{"title": "Here"}, {"title": "There"}]}
    votes = sorted(by_type["poll_option"], key=lambda m: not m["content"]["selected"])
    assert [(v["content"]["title"], v["content"]["selected"]) for v in votes] == [
        ("There", True), ("There", False)]
    assert votes[0]["content"]["option"] == {"title": "There"}
    assert votes[0]["content"]["poll"]["title"] == "Where?"
    assert all(m["id"].startswith(f"{poll}:poll:") for m in votes)


# -- retries ----------------------------------------------------------------------------------


def test_a_500_then_200_delivers_the_event_twice(make_emu: Callable[..., Emulator],
                                                 make_receiver: Callable[..., Receiver]) -> None:
    receiver = make_receiver(lambda request, seen: 500 if seen == 0 else 200)
    emu = make_emu(webhook_url=receiver.url, webhook_secret=SECRET, webhook_retry_base=0.05)
    guid = emu.simulate_inbound(ALICE, "retry me", line=LINE_A)
    first, second = receiver.wait_for(2)
    assert emu.wait_for_webhooks(5)
    assert message_id(first) == message_id(second) == guid
    assert first.body == second.body  # the same event; each attempt signed on its own
    verify(first, SECRET)
    verify(second, SECRET)
    (delivery,) = emu.webhook_deliveries
    assert (delivery.attempts, delivery.last_status, delivery.state) == (2, 200, "delivered")
    time.sleep(0.3)
    assert len(receiver.received) == 2


def test_a_failing_url_is_tried_six_times_then_dropped(
        make_emu: Callable[..., Emulator], make_receiver: Callable[..., Receiver],
        caplog: pytest.LogCaptureFixture) -> None:
    receiver = make_receiver(lambda request, seen: 503)
    emu = make_emu(webhook_url=receiver.url, webhook_secret=SECRET, webhook_retry_base=0.01)
    with caplog.at_level(logging.WARNING, logger="spectrum_sync.emulator.webhooks"):
        emu.simulate_inbound(ALICE, "nobody home", line=LINE_A)
        receiver.wait_for(6)
        assert emu.wait_for_webhooks(10)
        time.sleep(0.5)  # would be time for a 7th attempt (backoff is at most 0.32 s here)
    assert len(receiver.received) == 6
    (delivery,) = emu.webhook_deliveries
    assert (delivery.attempts, delivery.last_status, delivery.state) == (6, 503, "dropped")
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1
    assert SECRET not in caplog.text


def test_a_dead_url_is_tried_six_times_then_dropped(make_emu: Callable[..., Emulator]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    emu = make_emu(webhook_url=f"http://127.0.0.1:{port}/hook", webhook_retry_base=0.01)
    emu.simulate_inbound(ALICE, "into the void", line=LINE_A)
    assert emu.wait_for_webhooks(10)
    (delivery,) = emu.webhook_deliveries
    assert (delivery.attempts, delivery.last_status, delivery.state) == (6, None, "dropped")
    assert delivery.last_error and "Connection" in delivery.last_error


def test_a_timeout_is_retried(make_emu: Callable[..., Emulator],
                              make_receiver: Callable[..., Receiver]) -> None:
    receiver = make_receiver(lambda request, seen: HANG if seen == 0 else 200)
    emu = make_emu(webhook_url=receiver.url, webhook_secret=SECRET, webhook_retry_base=0.01,
                   webhook_timeout=0.3)
    emu.simulate_inbound(ALICE, "slow receiver", line=LINE_A)
    receiver.wait_for(2)
    assert emu.wait_for_webhooks(5)
    (delivery,) = emu.webhook_deliveries
    assert (delivery.attempts, delivery.state) == (2, "delivered")


def test_a_receiver_trickling_its_answer_is_cut_at_webhook_timeout(
        make_emu: Callable[..., Emulator], make_receiver: Callable[..., Receiver]) -> None:
    # Each byte comes well within the timeout, the whole answer (about 40 bytes) far after
    # it: the timeout bounds the attempt, not each read.
    receiver = make_receiver(lambda request, seen: TRICKLE if seen == 0 else 200)
    emu = make_emu(webhook_url=receiver.url, webhook_secret=SECRET, webhook_retry_base=0.01,
                   webhook_timeout=1.0)
    emu.simulate_inbound(ALICE, "trickled", line=LINE_A)
    whole_answer = 38 * TRICKLE_DELAY
    receiver.wait_for(2, timeout=whole_answer / 2)
    assert emu.wait_for_webhooks(5)
    (delivery,) = emu.webhook_deliveries
    assert (delivery.attempts, delivery.state) == (2, "delivered")


# -- never in the way -------------------------------------------------------------------------


def test_a_hanging_receiver_slows_neither_grpc_nor_stop(
        make_emu: Callable[..., Emulator], make_receiver: Callable[..., Receiver],
        make_api: Callable[..., Api]) -> None:
    receiver = make_receiver(lambda request, seen: HANG)
    emu = make_emu(webhook_url=receiver.url, webhook_timeout=60)
    api = make_api(emu, LINE_A)
    for n in range(20):
        emu.simulate_inbound(ALICE, f"inbound {n}", line=LINE_A)
    receiver.wait_for(4)  # every worker is now stuck in a request
    slowest = 0.0
    for n in range(20):
        started = time.monotonic()
        _send(api, f"send {n}")
        emu.simulate_inbound(BOB, f"more {n}", line=LINE_A)
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < 0.5
    assert sum(d.state == "pending" for d in emu.webhook_deliveries) == 40
    started = time.monotonic()
    emu.stop()
    assert time.monotonic() - started < 3.0
    assert not [t for t in threading.enumerate() if t.name.startswith("spectrum-emu-webhook")
                and t.is_alive() and emu.thread_name_prefix[-6:] in t.name]


def test_webhooks_queued_while_stopped_go_out_after_start(receiver: Receiver) -> None:
    emu = Emulator(lines=[LINE_A], webhook_url=receiver.url, webhook_secret=SECRET)
    guid = emu.simulate_inbound(ALICE, "queued before start")
    time.sleep(0.1)
    assert receiver.received == []
    with emu:
        (request,) = receiver.wait_for(1)
        assert message_id(request) == guid


# -- configuration and reports ----------------------------------------------------------------


def test_admin_lists_deliveries_without_the_secret(hooked: Emulator, receiver: Receiver) -> None:
    guid = hooked.simulate_inbound(ALICE, "listed", line=LINE_A)
    receiver.wait_for(1)
    assert hooked.wait_for_webhooks(5)
    answer = call(hooked, "GET", "/_emulator/webhooks")
    assert answer.status == 200
    assert answer.body == {"url": receiver.url, "deliveries": [{
        "event_id": guid, "content_type": "text", "line": LINE_A, "attempts": 1,
        "last_status": 200, "last_error": None, "state": "delivered"}]}
    assert SECRET not in json.dumps(answer.body)
    assert SECRET not in repr(hooked._webhooks) and SECRET not in json.dumps(hooked.state())
    hooked.reset()
    assert hooked.webhook_deliveries == []


def test_without_a_webhook_url_nothing_is_sent(emu: Emulator) -> None:
    emu.simulate_inbound(ALICE, "quiet", line=LINE_A)
    assert emu.webhook_deliveries == []
    assert emu.wait_for_webhooks(0.1)
    assert call(emu, "GET", "/_emulator/webhooks").body == {"url": None, "deliveries": []}
    assert "SPECTRUM_WEBHOOK_SECRET" not in emu.env()


def test_secret_is_generated_and_exported(receiver: Receiver) -> None:
    emu = Emulator(webhook_url=receiver.url)
    assert emu.webhook_secret is not None
    assert len(emu.webhook_secret) == 64
    assert int(emu.webhook_secret, 16) >= 0
    assert emu.env()["SPECTRUM_WEBHOOK_SECRET"] == emu.webhook_secret
    assert Emulator(webhook_url=receiver.url).webhook_secret != emu.webhook_secret


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"webhook_url": "ftp://example.com/hook"}, "http"),
    ({"webhook_url": "example.com/hook"}, "http"),
    ({"webhook_url": "http://"}, "http"),
    ({"webhook_url": "http://example.com:99999/"}, "port"),
    ({"webhook_url": "http://exa mple.com/"}, "space"),
    ({"webhook_secret": "s"}, "webhook_url"),
    ({"webhook_url": "http://127.0.0.1:9/", "webhook_secret": ""}, "empty"),
    ({"webhook_url": "http://127.0.0.1:9/", "webhook_retry_base": -1}, "retry"),
    ({"webhook_url": "http://127.0.0.1:9/", "webhook_timeout": 0}, "timeout"),
    ({"webhook_url": "http://127.0.0.1:9/", "webhook_timeout": float("nan")}, "timeout"),
])
def test_bad_webhook_configuration_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Emulator(**kwargs)
