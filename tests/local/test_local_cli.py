"""``spectrum-sync listen --local`` and ``send --local`` against a chat.db fixture and a fake
osascript, run as a user runs them (a subprocess)."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chatdb_fixture import ChatDBFixture, MakeDB
from fake_osascript import FakeOsascript, path_with

sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))
from cli_helpers import CliProcess, assert_error, base_env, run_cli

ALICE = "+15551111111"
DM_GUID = f"iMessage;-;{ALICE}"


@pytest.fixture
def db(make_db: MakeDB) -> ChatDBFixture:
    made = make_db()
    made.chat(DM_GUID, handles=[made.handle(ALICE)])
    return made


@pytest.fixture
def listener(db: ChatDBFixture) -> Iterator[list[CliProcess]]:
    started: list[CliProcess] = []
    yield started
    for proc in started:
        proc.kill()


def test_listen_local_prints_what_arrives_in_chat_db(db: ChatDBFixture,
                                                     listener: list[CliProcess]) -> None:
    proc = CliProcess("listen", "--chat-db", str(db.path), "--json", "--count", "2",
                      env=base_env())
    listener.append(proc)
    proc.wait_stderr("listening to this Mac's Messages")
    db.message("first", chat=1, handle=1, body="attributed")
    db.message("second", chat=1, handle=1)
    status, out, err = proc.finish()
    assert status == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["text"] for e in events] == ["first", "second"]
    assert events[0]["space"]["id"] == DM_GUID and events[0]["space"]["phone"] == ""
    assert events[0]["sender"]["address"] == ALICE


def test_listen_local_stops_on_ctrl_c(db: ChatDBFixture, listener: list[CliProcess]) -> None:
    proc = CliProcess("listen", "--local", "--chat-db", str(db.path), env=base_env())
    listener.append(proc)
    proc.wait_stderr("listening")
    db.message("hello", chat=1, handle=1)
    proc.wait_stdout("hello")
    proc.signal(signal.SIGINT)
    status, _, _ = proc.finish(timeout=10)
    assert status == 130


def test_listen_local_with_a_missing_chat_db_says_what_to_do(tmp_path: Path) -> None:
    proc = run_cli("listen", "--chat-db", str(tmp_path / "nope.db"), env=base_env())
    assert_error(proc, 2, "no chat.db at")


def test_local_and_emulator_exclude_each_other(db: ChatDBFixture) -> None:
    proc = run_cli("listen", "--local", "--emulator", env=base_env())
    assert_error(proc, 2, "--local and --emulator")


def test_send_local_goes_through_osascript(db: ChatDBFixture, tmp_path: Path) -> None:
    fake = FakeOsascript(tmp_path / "bin")
    env = base_env({**fake.env(), "PATH": path_with(fake.folder),
                    "FAKE_OSASCRIPT_ECHO_DB": str(db.path)})
    proc = run_cli("send", "--chat-db", str(db.path), "--space", DM_GUID, "hi there", env=env)
    assert proc.returncode == 0, proc.stderr
    assert fake.last().args[1:] == [b"participant", ALICE.encode(), b"iMessage", b"text",
                                    b"hi there"]
