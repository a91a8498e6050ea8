"""Secrets stay out of repr/str/logs; state stores persist routing and quota counters."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from client_helpers import ALICE, BOB, LINE_1, LINE_2, ClientFactory, EmulatorFactory

import spectrum_sync as spectrum
from spectrum_sync import MemoryStore, SQLiteStore, StateStore
from spectrum_sync.emulator import Emulator

SECRET = "s3cr3t-project-secret-value"


def test_secrets_and_tokens_never_appear(
    make_emulator: EmulatorFactory, make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    emu = make_emulator(plan="dedicated", lines=[LINE_1], project_secret=SECRET, token_ttl=5)
    client = make_client(emu)
    space = client.space.create(ALICE)
    message = space.send("hi")
    assert emu.rest is not None
    emu.rest.fail_next(2, status=503)  # refresh failures get logged
    time.sleep(4.5)  # the refresher tries at 4 s (80% of the lifetime)
    # Refused twice: once with the old token, once more after fetching a new one.
    emu.fail_next(2, code="UNAUTHENTICATED", retryable=False, error_code="tokenBlocked",
                  method="SendTextMessage")
    with pytest.raises(spectrum.AuthenticationError) as auth_error:
        space.send("blocked")
    bad = make_client(emu, project_secret=SECRET + "-wrong")
    with pytest.raises(spectrum.AuthenticationError) as rest_error:
        bad.phones  # noqa: B018
    tokens = {c.metadata["authorization"].split()[1] for c in emu.requests}
    explicit = spectrum.Line(emu.grpc_address, emu.token(LINE_1), LINE_1, tls=False)
    tokens.add(explicit.token)
    explicit_client = make_client(None, lines=[explicit])
    texts = [
        repr(client), str(client), repr(space), repr(message), repr(explicit),
        repr(explicit_client), repr(client.lines), repr(explicit_client.lines),
        repr(client.health()), repr(client.state), repr(client.space),
        str(auth_error.value), repr(auth_error.value),
        str(rest_error.value), repr(rest_error.value), caplog.text,
    ]
    for text in texts:
        assert SECRET not in text
        for token in tokens:
            assert token not in text
    assert "token refresh failed" in caplog.text  # the failures were logged, safely


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    if request.param == "memory":
        return MemoryStore()
    return SQLiteStore(tmp_path / "state.db")


def test_store_protocol(store: StateStore) -> None:
    assert isinstance(store, StateStore)
    assert store.get_cursor("+1") is None
    store.set_cursors({"+1": 5, "+2": 7})
    store.set_cursors({"+1": 9})
    assert (store.get_cursor("+1"), store.get_cursor("+2")) == (9, 7)
    assert store.get_route("chat") is None
    store.set_route("chat", "+1")
    store.set_route("chat", "+2")
    assert store.get_route("chat") == "+2"
    assert store.get_counter("k") == 0
    assert store.reserve("k", None) is True
    assert [store.reserve("k", 3) for _ in range(3)] == [True, True, False]
    assert store.get_counter("k") == 3
    store.release("k")
    assert store.get_counter("k") == 2
    assert store.raise_counter("k", 1) == 2
    assert store.raise_counter("k", 8) == 8
    assert store.add_member("g", "a") is True
    assert store.add_member("g", "a") is False
    assert store.has_member("g", "a") and not store.has_member("g", "b")
    store.close()


def test_sqlite_store_survives_a_restart(
    emu: Emulator, make_client: ClientFactory, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    first = make_client(emu, state=SQLiteStore(path))
    space = first.space.create(BOB, phone=LINE_2)
    space.send("one")
    space.send("two")
    first.close()
    second = make_client(emu, state=SQLiteStore(path))
    assert second.space.get(space.id).phone == LINE_2  # routing remembered
    usage = second.quota(LINE_2)
    assert (usage.messages, usage.new_conversations) == (2, 1)
    second.space.get(space.id).send("three")  # not a new conversation any more
    assert second.quota(LINE_2).new_conversations == 1


def test_sqlite_counters_are_shared_between_clients(tmp_path: Path) -> None:
    a, b = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    for _ in range(10):
        a.reserve("n", None)
        b.reserve("n", None)
    assert a.get_counter("n") == b.get_counter("n") == 20
    a.close()
    b.close()
    assert repr(a) == f"SQLiteStore({str(tmp_path / 's.db')!r})"
