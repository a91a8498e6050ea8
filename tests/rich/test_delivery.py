"""Delivery state on Message, refresh() and wait_delivered(), against the emulator."""

from __future__ import annotations

import threading
import time

import pytest
from rich_helpers import ALICE, calls

import spectrum_sync as spectrum
from spectrum_sync import Client, Space
from spectrum_sync.emulator import Emulator


def test_a_sent_message_reports_sent_and_delivered(dm: Space) -> None:
    sent = dm.send("hello")
    assert sent.is_sent and sent.is_delivered and not sent.delivered_quietly
    assert sent.delivered_at is not None and sent.read_at is None and not sent.is_read
    assert sent.send_error_code == 0 and sent.service == "iMessage"
    assert sent.item_type == "normal" and sent.part_count == 1 and sent.flags == frozenset()


def test_refresh_sees_delivery_read_and_played(emu: Emulator, dm: Space) -> None:
    emu.deliver_sends = False
    sent = dm.send("are you there?")
    assert sent.is_sent and not sent.is_delivered and sent.delivered_at is None
    emu.clear_requests()
    emu.mark_delivered(sent.guid, quietly=True)
    fresh = sent.refresh()
    assert [r.message_guid for r in calls(emu, "GetMessage")] == [sent.guid]
    assert fresh == sent  # the same message; its state is newer
    assert fresh.is_delivered and fresh.delivered_quietly and fresh.delivered_at is not None
    emu.simulate_read(sent.guid)
    emu.mark_played(sent.guid)
    again = fresh.refresh()
    assert again.is_read and again.read_at is not None and again.played_at is not None


def test_wait_delivered_returns_once_the_service_reports_it(emu: Emulator, dm: Space) -> None:
    emu.deliver_sends = False
    sent = dm.send("ping")
    timer = threading.Timer(0.5, emu.mark_delivered, args=(sent.guid,))
    timer.start()
    try:
        delivered = sent.wait_delivered(timeout=10)
    finally:
        timer.cancel()
    assert delivered.is_delivered and delivered.guid == sent.guid
    # Polled with a backoff: a handful of lookups, not one per millisecond.
    assert 1 <= len(calls(emu, "GetMessage")) <= 8


def test_wait_delivered_raises_the_send_error(emu: Emulator, dm: Space) -> None:
    emu.deliver_sends = False
    sent = dm.send("no iMessage here")
    emu.fail_delivery(sent.guid, 22)
    with pytest.raises(spectrum.DeliveryFailed) as caught:
        sent.wait_delivered(timeout=5)
    assert caught.value.send_error_code == 22 and caught.value.code == "sendError"
    assert caught.value.sent_message.send_error_code == 22
    assert "22" in str(caught.value)


def test_wait_delivered_times_out(emu: Emulator, dm: Space) -> None:
    emu.deliver_sends = False
    sent = dm.send("into the void")
    started = time.monotonic()
    with pytest.raises(spectrum.DeliveryTimeout) as caught:
        sent.wait_delivered(timeout=0.6)
    assert time.monotonic() - started < 5
    assert isinstance(caught.value, TimeoutError) and caught.value.code == "timeout"
    assert not caught.value.sent_message.is_delivered


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "5", None])
def test_wait_delivered_refuses_bad_timeouts(dm: Space, bad: object) -> None:
    sent = dm.send("x")
    with pytest.raises(spectrum.ValidationError):
        sent.wait_delivered(timeout=bad)  # type: ignore[arg-type]


def test_received_messages_carry_their_state(emu: Emulator, client: Client) -> None:
    guid = emu.simulate_inbound(ALICE, "hi", line="+15550000001")
    message = client.message(guid)
    assert message.is_delivered and not message.is_sent and message.sender is not None
    assert message.service == "iMessage" and message.destination == "+15550000001"


def test_an_unknown_message_refresh_is_not_found(dm: Space) -> None:
    sent = dm.send("x")
    ghost = spectrum.Message(guid="nope", space=dm)
    with pytest.raises(spectrum.NotFoundError):
        ghost.refresh()
    assert sent.refresh().guid == sent.guid


def test_the_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    at = readme.index("## Delivery state")
    block = re.search(r"```python\n(.*?)```", readme[at:], flags=re.S)
    assert block is not None
    exec(compile(block.group(1), "README.md", "exec"), {})
    assert "sent by e-mail instead: Your table is ready" in capsys.readouterr().out
