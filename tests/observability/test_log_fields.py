"""Log records carry structured ``spectrum_*`` fields (line, family, masked chat, sequence,
code), so that JSON logs can be filtered without parsing messages."""

from __future__ import annotations

import logging
import threading

import pytest
from support.receiving import wait_until

import spectrum_sync as spectrum
from spectrum_sync.emulator import Emulator

LINE, ALICE = "+15550000001", "+15551111111"


def test_a_stream_cut_is_logged_with_its_line_family_and_code(
        emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="spectrum_sync")
    with emu.client() as client, client.messages():
        assert wait_until(lambda: client.health()[LINE].state == "live")
        emu.cut_streams()
        assert wait_until(lambda: any("stream ended" in r.getMessage()
                                      for r in caplog.records), 20)
    record = next(r for r in caplog.records if "stream ended" in r.getMessage())
    assert record.spectrum_line == LINE  # type: ignore[attr-defined]
    assert record.spectrum_family in ("messages", "groups", "polls", "chats")  # type: ignore[attr-defined]
    assert record.spectrum_code  # type: ignore[attr-defined]


def test_a_handler_failure_names_the_chat_masked(
        emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    failed = threading.Event()
    with emu.client() as client:

        @client.on_message
        def handle(message: spectrum.Message) -> None:
            failed.set()
            raise RuntimeError("boom")

        handle_ = client.start()
        try:
            assert wait_until(lambda: client.health()[LINE].state == "live")
            emu.simulate_inbound(ALICE, "hello", line=LINE)
            assert failed.wait(10)
            assert wait_until(lambda: any(r.levelno == logging.ERROR
                                          for r in caplog.records))
        finally:
            handle_.stop()
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert record.spectrum_chat == "any;-;+*******1111"  # type: ignore[attr-defined]
    assert record.spectrum_line == LINE  # type: ignore[attr-defined]
    assert ALICE not in record.getMessage()


def test_fields_are_only_those_given() -> None:
    from spectrum_sync._logfields import FIELDS, fields

    assert fields() == {}
    given = fields(line=LINE, family="messages", chat=f"any;-;{ALICE}", sequence=7,
                   code="timeout")
    assert tuple(given) == FIELDS
    assert given["spectrum_chat"] == "any;-;+*******1111"


def test_the_readme_recipe_lists_every_field() -> None:
    from pathlib import Path

    from spectrum_sync._logfields import FIELDS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in FIELDS:
        assert f"| `{name}` |" in readme and f'"{name}"' in readme, name
