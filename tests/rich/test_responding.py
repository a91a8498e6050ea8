"""``space.responding()``: typing shown while the block runs, refreshed, always turned off."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from support.forking import pretend_uwsgi

import spectrum_sync as spectrum
from spectrum_sync import Space
from spectrum_sync.emulator import Emulator


def _typing(emu: Emulator, dm: Space) -> list[bool]:
    return [on for line, chat, on, mine in emu.typing if chat == dm.id and mine]


def test_typing_is_on_refreshed_and_off(emu: Emulator, dm: Space) -> None:
    with dm.responding(refresh=0.1) as space:
        assert space is dm
        assert _typing(emu, dm) == [True]
        time.sleep(0.45)
    states = _typing(emu, dm)
    assert states[-1] is False and states.count(False) == 1
    assert 3 <= states.count(True) <= 6  # the first one, then about every 0.1 s
    assert not any(t.name == "spectrum-responding" for t in threading.enumerate())


def test_a_short_block_sends_on_and_off_only(emu: Emulator, dm: Space) -> None:
    with dm.responding():
        pass
    assert _typing(emu, dm) == [True, False]


def test_the_blocks_exception_goes_through_and_typing_ends(emu: Emulator, dm: Space) -> None:
    with pytest.raises(KeyError, match="boom"), dm.responding(refresh=0.05):
        time.sleep(0.12)
        raise KeyError("boom")
    assert _typing(emu, dm)[-1] is False


def test_failing_to_turn_typing_off_is_logged_not_raised(
        emu: Emulator, dm: Space, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="spectrum_sync"), dm.responding():
        emu.fail_next(1, code="INVALID_ARGUMENT", retryable=False, method="SetTyping")
    assert "could not turn the typing indicator off" in caplog.text
    with pytest.raises(ZeroDivisionError), caplog.at_level(logging.WARNING), dm.responding():
        emu.fail_next(1, code="INVALID_ARGUMENT", retryable=False, method="SetTyping")
        1 / 0  # noqa: B018


def test_refresh_failures_do_not_end_the_block(emu: Emulator, dm: Space) -> None:
    with dm.responding(refresh=0.05):
        emu.fail_next(2, code="INVALID_ARGUMENT", retryable=False, method="SetTyping")
        time.sleep(0.3)
    assert _typing(emu, dm)[-1] is False


def test_bad_refresh_and_a_first_failure(emu: Emulator, dm: Space) -> None:
    for bad in (0, -1, float("nan"), "1", 0.01):
        with pytest.raises(spectrum.ValidationError, match="refresh"):
            dm.responding(refresh=bad)  # type: ignore[arg-type]
    emu.fail_next(1, code="NOT_FOUND", retryable=False, method="SetTyping",
                  error_code="chatNotFound")
    ran = False
    with pytest.raises(spectrum.NotFoundError), dm.responding():
        ran = True  # pragma: no cover - the indicator could not be turned on
    assert not ran


def test_in_a_uwsgi_master_typing_is_set_once_without_a_thread(
        emu: Emulator, dm: Space, monkeypatch: pytest.MonkeyPatch) -> None:
    # uWSGI's master forks its workers from C: no thread of ours may run there
    # (docs/behaviour.md, "Lifecycle and fork"), so the indicator is not refreshed.
    started = pretend_uwsgi(monkeypatch, [0])
    with dm.responding(refresh=0.05):
        time.sleep(0.2)
    assert _typing(emu, dm) == [True, False]
    assert "spectrum-responding" not in started
