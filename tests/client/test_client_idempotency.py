"""Idempotency across restarts: a caller's key is the request's client_message_id, and the
service's answer ``duplicateMessage`` to a repeat is a success (docs/behaviour.md,
"Idempotency")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from client_helpers import ALICE, LINE_1, ClientFactory, calls, message_count

import spectrum_sync as spectrum
from spectrum_sync.emulator import Emulator

FIRST_RUN = """
import sys
import spectrum_sync as spectrum
with spectrum.Client(state="sqlite:///" + sys.argv[1]) as client:
    space = client.space.create(sys.argv[2], phone=sys.argv[3])
    print(space.send("Your order has shipped", idempotency_key="order-42-shipped").guid)
"""


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    # A header key is replayed for a while only; these tests start after that window, where
    # only the client_message_id is remembered (and answered with duplicateMessage).
    return {"plan": "dedicated", "lines": [LINE_1], "idempotency_window": 0}


def _send_in_another_process(emu: Emulator, state: Path) -> str:
    env = {**os.environ, **emu.env()}
    proc = subprocess.run([sys.executable, "-c", FIRST_RUN, str(state), ALICE, LINE_1],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.forks
def test_a_restarted_process_gets_the_original_message(
        emu: Emulator, make_client: ClientFactory, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    guid = _send_in_another_process(emu, state)
    # The process "restarts" and the task is retried with the same key.
    client = make_client(emu, state=f"sqlite:///{state}")
    space = client.space.get(f"any;-;{ALICE}")
    again = space.send("Your order has shipped", idempotency_key="order-42-shipped")
    assert again.guid == guid and again.text == "Your order has shipped"
    assert message_count(emu, space.id) == 1
    sends = calls(emu, "SendTextMessage")
    assert [s.request.client_message_id for s in sends] == ["order-42-shipped"] * 2


@pytest.mark.forks
def test_without_the_record_the_error_says_it_was_sent(
        emu: Emulator, make_client: ClientFactory, tmp_path: Path) -> None:
    _send_in_another_process(emu, tmp_path / "state.db")
    client = make_client(emu)  # its own memory store: it cannot know the original
    space = client.space.get(f"any;-;{ALICE}")
    with pytest.raises(spectrum.AlreadySent) as info:
        space.send("Your order has shipped", idempotency_key="order-42-shipped")
    error = info.value
    assert (error.code, error.outcome, error.retryable) == ("duplicateMessage", "sent", False)
    assert "went through" in str(error)
    assert message_count(emu, space.id) == 1
    assert client.quota(LINE_1).messages == 0  # nothing new was sent: no unit spent


def test_a_repeat_without_an_answer_is_done(
        emu: Emulator, make_client: ClientFactory) -> None:
    """Calls whose answer is empty (react, unsend, mark read) are simply done."""
    client = make_client(emu)
    space = client.space.create(ALICE, phone=LINE_1)
    sent = space.send("hi")
    sent.react("👍", idempotency_key="like-1")
    other = make_client(emu)
    other.space.get(space.id).mark_read(idempotency_key="read-1")
    other.space.get(space.id).mark_read(idempotency_key="read-1")
    again = other.message(sent.guid, phone=LINE_1)
    again.react("👍", idempotency_key="like-1")  # duplicateMessage: no error
    assert len(calls(emu, "SetReaction")) == 2
    edited = sent.edit("hi!", idempotency_key="edit-1")
    assert again.edit("hi!", idempotency_key="edit-1").text == edited.text == "hi!"


def test_a_repeated_dm_creation_is_the_same_space(
        emu: Emulator, make_client: ClientFactory) -> None:
    first = make_client(emu).space.create(ALICE, phone=LINE_1, idempotency_key="open-dm")
    again = make_client(emu).space.create(ALICE, phone=LINE_1, idempotency_key="open-dm")
    assert again == first
    assert [c.request.client_message_id for c in calls(emu, "CreateChat")] == ["open-dm"] * 2


class _OwnStore:
    """A user's store written before stores could record sent messages: every method of the
    StateStore protocol, none of SentRecords (delegating to a memory store)."""

    def __init__(self) -> None:
        self._inner = spectrum.MemoryStore()

    def __getattr__(self, name: str) -> object:
        if name in ("get_sent", "set_sent"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    # The protocol's members, spelled out so that isinstance(..., StateStore) sees them.
    def get_cursor(self, key: str) -> int | None:
        return self._inner.get_cursor(key)

    def set_cursors(self, cursors: dict[str, int]) -> None:
        self._inner.set_cursors(cursors)

    def get_route(self, chat_guid: str) -> str | None:
        return self._inner.get_route(chat_guid)

    def set_route(self, chat_guid: str, phone: str) -> None:
        self._inner.set_route(chat_guid, phone)

    def get_counter(self, key: str) -> int:
        return self._inner.get_counter(key)

    def reserve(self, key: str, limit: int | None, ttl: float | None = None) -> bool:
        return self._inner.reserve(key, limit, ttl)

    def release(self, key: str) -> None:
        self._inner.release(key)

    def raise_counter(self, key: str, value: int, ttl: float | None = None) -> int:
        return self._inner.raise_counter(key, value, ttl)

    def add_member(self, group: str, member: str, ttl: float | None = None) -> bool:
        return self._inner.add_member(group, member, ttl)

    def has_member(self, group: str, member: str) -> bool:
        return self._inner.has_member(group, member)

    def close(self) -> None:
        self._inner.close()


def test_a_users_store_without_sent_records_still_works(
        emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(emu, state=_OwnStore())
    space = client.space.create(ALICE, phone=LINE_1)
    space.send("once", idempotency_key="k-1")
    with pytest.raises(spectrum.AlreadySent):
        space.send("once", idempotency_key="k-1")
    assert message_count(emu, space.id) == 1
