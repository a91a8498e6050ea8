"""Poll limits as the official SDK enforces them (refused before any call) and group icons
that keep their MIME type."""

from __future__ import annotations

import pytest
from client_helpers import ALICE, BOB, LINE_1, calls

import spectrum_sync as spectrum
from spectrum_sync import Client
from spectrum_sync.emulator import Emulator

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.mark.parametrize(("title", "options", "message"), [
    ("x" * 301, ["a", "b"], "at most 300 characters, got 301"),
    ("🙂" * 151, ["a", "b"], "at most 300 characters, got 302"),  # UTF-16, as JS counts
    ("Q", [f"option {i}" for i in range(11)], "at most 10 options, got 11"),
    ("Q", ["only"], "at least two options"),
    ("Q", ["Yes", " yes"], "duplicate poll option"),
])
def test_poll_limits_are_checked_before_any_call(
        emu: Emulator, client: Client, title: str, options: list[str], message: str) -> None:
    dm = client.space.create(ALICE, phone=LINE_1)
    emu.clear_requests()
    with pytest.raises(spectrum.ValidationError, match=message):
        dm.create_poll(title, options)
    assert emu.requests == []


def test_the_largest_poll_is_accepted(emu: Emulator, client: Client) -> None:
    dm = client.space.create(ALICE, phone=LINE_1)
    poll = dm.create_poll("x" * 300, [f"option {i}" for i in range(10)])
    assert len(poll.options) == 10
    (create,) = calls(emu, "CreatePoll")
    assert len(create.request.title) == 300


def test_icon_keeps_its_mime_type(client: Client) -> None:
    group = client.space.create([ALICE, BOB], phone=LINE_1)
    group.set_icon(PNG)
    icon = group.icon()
    assert isinstance(icon, spectrum.Icon) and icon == PNG
    assert icon.mime_type == "image/png"
