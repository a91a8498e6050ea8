"""End to end: the emulator delivers signed webhooks to real servers (Flask and Django under
gunicorn with two workers). Every inbound event is handled once, a handler that fails the
first time is handled on the retry, and a dead URL is retried six times, then dropped."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from integ_helpers import (
    ALICE,
    APPS,
    LINES,
    base_env,
    check_handled_once,
    python_tool,
    read_records,
    replay,
    require_package,
    simulate_traffic,
    wait_until,
)
from support.servers import Server, free_port

from spectrum_sync.emulator import Emulator

SECRET = "e2e-webhook-secret"


def test_flask_under_gunicorn_receives_every_webhook_once(
        make_emu: Callable[..., Emulator], serve: Callable[..., Server], tmp_path: Path,
        ) -> None:
    require_package("gunicorn", "test")
    require_package("flask", "flask")
    port = free_port()
    record = tmp_path / "events.jsonl"
    emu = make_emu(webhook_url=f"http://127.0.0.1:{port}/spectrum/webhook",
                   webhook_secret=SECRET, webhook_retry_base=0.2)
    # The state store is shared by the two workers: a message handled by one is a
    # duplicate for the other.
    env = base_env(emu, RECORD_FILE=str(record),
                   SPECTRUM_STATE=f"sqlite:///{tmp_path / 'state.db'}")
    serve([*python_tool("gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
           "--timeout", "30", "flask_app:app"], env=env, port=port)

    flaky = simulate_traffic(emu)

    check_handled_once(emu, record, flaky)
    before = len(read_records(record))
    assert replay(port, "/spectrum/webhook", flaky, 6, SECRET) == [200] * 6
    assert len(read_records(record)) == before


def test_a_dead_url_is_retried_six_times_then_dropped(
        make_emu: Callable[..., Emulator], caplog: pytest.LogCaptureFixture) -> None:
    dead = free_port()  # nothing listens there
    emu = make_emu(webhook_url=f"http://127.0.0.1:{dead}/hook", webhook_secret=SECRET,
                   webhook_retry_base=0.01)
    with caplog.at_level(logging.WARNING, logger="spectrum_sync.emulator.webhooks"):
        guid = emu.simulate_inbound(ALICE, "nobody home", line=LINES[0])
        assert emu.wait_for_webhooks(30)
    [delivery] = emu.webhook_deliveries
    assert (delivery.event_id, delivery.attempts, delivery.state) == (guid, 6, "dropped")
    assert delivery.last_status is None and delivery.last_error
    assert wait_until(lambda: "dropped after 6 attempts" in caplog.text, 5), caplog.text
    assert guid in caplog.text


def test_a_failing_answer_is_retried_until_the_sixth_attempt(
        make_emu: Callable[..., Emulator], serve: Callable[..., Server], tmp_path: Path,
        ) -> None:
    """A server that answers 401 (a wrong secret) is retried, then the delivery is dropped:
    the status the view answers is what the sender acts on."""
    require_package("gunicorn", "test")
    require_package("flask", "flask")
    port = free_port()
    emu = make_emu(webhook_url=f"http://127.0.0.1:{port}/spectrum/webhook",
                   webhook_secret="not-the-apps-secret", webhook_retry_base=0.01)
    env = base_env(emu, SPECTRUM_WEBHOOK_SECRET=SECRET, RECORD_FILE=str(tmp_path / "r"))
    serve([*python_tool("gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
           "flask_app:app"], env=env, port=port, cwd=APPS)
    emu.simulate_inbound(ALICE, "forged?", line=LINES[0])
    assert emu.wait_for_webhooks(30)
    [delivery] = emu.webhook_deliveries
    assert (delivery.attempts, delivery.last_status, delivery.state) == (6, 401, "dropped")
    assert read_records(tmp_path / "r") == []
