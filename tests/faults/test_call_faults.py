"""Calls at their edges: outages, lost answers, caller keys, bookkeeping failures, closing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
from support.emulator_process import EmulatorProcess
from support.receiving import ALICE, BOB, LINE, wait_until

import spectrum_sync as spectrum
from spectrum_sync import Client, MemoryStore
from spectrum_sync.emulator import Emulator


def _sends(emu: Emulator) -> list[Any]:
    return [c for c in emu.requests if c.method == "SendTextMessage"]


def test_a_send_during_a_short_outage_succeeds(emu_process: EmulatorProcess) -> None:
    with Client(env=emu_process.env) as client:
        space = client.space.create(ALICE, phone=LINE)
        space.send("warm up")
        emu_process.kill()
        result: list[Any] = []

        def send() -> None:
            try:
                result.append(space.send("through the outage", timeout=20))
            except Exception as exc:  # shown by the assertion below
                result.append(exc)

        started = time.monotonic()
        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.6)
        assert sender.is_alive(), result  # still retrying: a refused connection is not the end
        emu_process.start()  # same ports, a cloud that forgot everything
        sender.join(25)  # a loaded machine may take seconds to start the emulator's process
        assert result and getattr(result[0], "text", None) == "through the outage", result
        assert time.monotonic() - started < 20
        texts = [m["text"] for m in emu_process.admin("messages", method="GET")["messages"]]
        assert texts == ["through the outage"]  # one bubble


def test_connection_refused_is_retryable_and_says_not_sent() -> None:
    line = spectrum.Line("127.0.0.1:9", "token", LINE, tls=False)  # nothing listens there
    with Client(lines=[line]) as client:
        space = client.space.get(f"any;-;{ALICE}")
        started = time.monotonic()
        with pytest.raises(spectrum.ConnectionError) as info:
            space.send("nowhere", timeout=1.5)
        assert 1.0 < time.monotonic() - started < 3.0  # retried until the deadline
    error = info.value
    assert (error.code, error.retryable, error.outcome) == (
        "serviceUnavailable", True, "not_sent")
    assert "not sent" in str(error)


def test_a_deadline_after_the_request_left_says_the_outcome_is_unknown(emu: Emulator) -> None:
    with emu.client() as client:
        space = client.space.create(ALICE, phone=LINE)
        emu.delay(0.8, method="SendTextMessage")
        with pytest.raises(spectrum.ConnectionError) as info:
            space.send("slow", timeout=0.5)
        error = info.value
        assert (error.code, error.outcome) == ("timeout", "unknown")
        assert error.idempotency_key and error.idempotency_key in str(error)
        emu.delay(0)
        # The server finishes the slow send meanwhile.
        assert wait_until(lambda: any(m["text"] == "slow" for m in emu.messages()), 5)
        again = space.send("slow", idempotency_key=error.idempotency_key)
        assert again.text == "slow"
        assert len([m for m in emu.messages() if m["text"] == "slow"]) == 1


def test_caller_idempotency_keys_make_repeats_harmless(emu: Emulator) -> None:
    with emu.client() as first, emu.client() as second:
        a = first.space.create(ALICE, phone=LINE).send("order 42 shipped",
                                                       idempotency_key="order-42")
        b = first.space.create(ALICE, phone=LINE).send("order 42 shipped",
                                                       idempotency_key="order-42")
        c = second.space.get(f"any;-;{ALICE}", phone=LINE).send(
            "order 42 shipped", idempotency_key="order-42")
        assert a.guid == b.guid == c.guid
    script = textwrap.dedent(f"""
        import spectrum_sync
        with spectrum_sync.Client() as client:
            space = client.space.get("any;-;{ALICE}", phone="{LINE}")
            print(space.send("order 42 shipped", idempotency_key="order-42").guid)
    """)
    other = subprocess.run([sys.executable, "-c", script], env={**os.environ, **emu.env()},
                           capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == a.guid  # another process: still one bubble
    assert len([m for m in emu.messages() if m["text"] == "order 42 shipped"]) == 1
    assert {c.request.client_message_id for c in _sends(emu)} == {"order-42"}
    assert {c.metadata["x-idempotency-key"] for c in _sends(emu)} == {"order-42"}


def test_every_mutating_action_takes_a_key(emu: Emulator) -> None:
    with emu.client() as client:
        group = client.space.create([ALICE, BOB], phone=LINE, idempotency_key="group-1")
        assert client.space.create([ALICE, BOB], phone=LINE,
                                   idempotency_key="group-1").id == group.id
        sent = group.send("hello", idempotency_key="send-1")
        sent.react("love", idempotency_key="react-1")
        sent.edit("hello!", idempotency_key="edit-1")
        group.mark_read(idempotency_key="read-1")
        sent.unsend(idempotency_key="unsend-1")
    keys = [c.metadata.get("x-idempotency-key") for c in emu.requests
            if c.method in ("CreateChat", "SendTextMessage", "SetReaction", "EditMessage",
                            "MarkChatRead", "UnsendMessage")]
    assert keys == ["group-1", "group-1", "send-1", "react-1", "edit-1", "read-1", "unsend-1"]


@pytest.mark.parametrize("key", ["", "é-not-ascii", "x" * 257, 42, "line\nbreak"])
def test_bad_idempotency_keys_are_refused(emu: Emulator, key: Any) -> None:
    with emu.client() as client:
        space = client.space.create(ALICE, phone=LINE)
        with pytest.raises(spectrum.ValidationError):
            space.send("x", idempotency_key=key)
    assert _sends(emu) == []


class _BookkeepingFails(MemoryStore):
    def add_member(self, group: str, member: str) -> bool:
        raise OSError("No space left on device")


def test_a_send_the_server_accepted_never_raises(emu: Emulator) -> None:
    with emu.client(state=_BookkeepingFails()) as client:
        space = client.space.create(ALICE, phone=LINE)
        message = space.send("delivered")  # the bookkeeping after it fails: not our problem
        assert message.text == "delivered"
        assert "No space left" in (client.health()[LINE].store_error or "")


def test_a_full_disk_never_fails_a_send_the_server_accepted(
    emu: Emulator, tmp_path: Any
) -> None:
    # RLIMIT_FSIZE makes every write past the limit fail as a full disk would.
    script = textwrap.dedent(f"""
        import resource, signal
        import spectrum_sync
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        with spectrum_sync.Client(state="sqlite:///{tmp_path / 'state.db'}") as client:
            space = client.space.create("{ALICE}", phone="{LINE}")
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
            for n in range(20):  # the file and its journal can no longer grow
                client.space.create("+1555777" + str(n).zfill(4), phone="{LINE}").send("x")
            print("sent 20", client.health()["{LINE}"].store_error is not None)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ, **emu.env()},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["sent", "20", "True"]
    assert len(_sends(emu)) == 20


def test_oversized_and_malformed_input_fails_before_any_call(emu: Emulator) -> None:
    with emu.client() as client:
        space = client.space.create(ALICE, phone=LINE)
        emu.clear_requests()
        with pytest.raises(spectrum.ValidationError, match="100 MiB"):
            space.send("x" * (101 * 2**20))
        with pytest.raises(spectrum.ValidationError, match="1024"):
            client.space.get("any;-;" + "1" * 20_000, phone=LINE)
        with pytest.raises(spectrum.ValidationError, match="surrogate"):
            space.send("broken \ud800 text")
        assert emu.requests == []


def test_close_under_32_sending_threads_only_raises_client_closed(emu: Emulator) -> None:
    client = emu.client()
    spaces = [client.space.create(f"+1555600{i:04d}", phone=LINE) for i in range(32)]
    errors: list[BaseException] = []
    sent = [0]
    started = threading.Barrier(33)

    def work(space: spectrum.Space) -> None:
        started.wait()
        while True:
            try:
                space.send("busy")
                sent[0] += 1
            except spectrum.ClientClosed:
                return
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=work, args=(s,)) for s in spaces]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.5)
    client.close()
    for thread in threads:
        thread.join(10)
    assert sent[0] > 32
    assert errors == [], errors[:3]
