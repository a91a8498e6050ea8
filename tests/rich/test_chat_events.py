"""Chat events (marked read, archived, unarchived, background set/removed) and backgrounds."""

from __future__ import annotations

import pytest
from rich_helpers import LINE_1, PNG, calls
from support.receiving import take

import spectrum_sync as spectrum
from spectrum_sync import Client, Space
from spectrum_sync.emulator import Emulator


def test_backgrounds_round_trip(emu: Emulator, dm: Space) -> None:
    assert dm.has_background() is False
    dm.set_background(PNG)
    assert dm.has_background() is True
    [request] = calls(emu, "SetBackground")
    assert (request.chat_guid, request.data) == (dm.id, PNG)
    dm.remove_background()
    assert dm.has_background() is False
    assert [r.chat_guid for r in calls(emu, "RemoveBackground")] == [dm.id]


def test_bad_backgrounds_are_refused_before_any_call(emu: Emulator, dm: Space) -> None:
    emu.clear_requests()
    for bad in (b"", 42, "/no/such/file.png"):
        with pytest.raises(spectrum.ValidationError):
            dm.set_background(bad)  # type: ignore[arg-type]
    assert emu.requests == []


def test_chat_events_are_received_like_the_others(emu: Emulator, client: Client,
                                                  dm: Space) -> None:
    with client.events("chat", include_own=True) as events:
        dm.set_background(PNG)
        dm.mark_read()
        emu.simulate_chat_event(dm.id, "archived", line=LINE_1)
        emu.simulate_chat_event(dm.id, "unarchived", line=LINE_1)
        dm.remove_background()
        got = take(events, 5)
    assert all(isinstance(e, spectrum.ChatChanged) and e.space == dm for e in got)
    assert [e.change for e in got] == ["background_changed", "marked_read", "archived",
                                       "unarchived", "background_removed"]
    assert all(e.is_from_me and e.occurred_at is not None and e.kind == "chat" for e in got)
    assert [e.sequence for e in got] == sorted(e.sequence for e in got)


def test_own_chat_changes_are_hidden_by_default(emu: Emulator, client: Client,
                                                dm: Space) -> None:
    with client.events(("chat", "message")) as events:
        emu.simulate_chat_event(dm.id, "archived", line=LINE_1)
        emu.simulate_inbound("+15551111111", "still here", line=LINE_1)
        [only] = take(events, 1)
    assert isinstance(only, spectrum.Message)


def test_chat_events_replay_after_a_restart(emu: Emulator, make_client: object,
                                            tmp_path: object) -> None:
    from pathlib import Path

    store = f"sqlite:///{Path(str(tmp_path)) / 'state.db'}"
    first: Client = make_client(emu, state=store)  # type: ignore[operator]
    space = first.space.create("+15551111111", phone=LINE_1)
    with first.events("chat", include_own=True) as events:
        emu.simulate_chat_event(space.id, "archived", line=LINE_1)
        take(events, 1)
    first.close()
    emu.simulate_chat_event(space.id, "unarchived", line=LINE_1)  # while nobody listens
    second: Client = make_client(emu, state=store)  # type: ignore[operator]
    with second.events("chat", include_own=True) as events:
        [event] = take(events, 1)
    assert event.change == "unarchived"


def test_unknown_simulated_changes_are_refused(emu: Emulator, dm: Space) -> None:
    with pytest.raises(ValueError):
        emu.simulate_chat_event(dm.id, "exploded", line=LINE_1)
