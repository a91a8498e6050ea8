"""Address lookups (iMessage availability, Focus) and sharing the line's contact card."""

from __future__ import annotations

import pytest
from rich_helpers import ALICE, BOB, CAROL, calls

import spectrum_sync as spectrum
from spectrum_sync import Client, Space
from spectrum_sync.emulator import Emulator


def test_is_imessage(emu: Emulator, client: Client) -> None:
    emu.set_address(BOB, ["SMS"])
    emu.set_address(CAROL, [])
    assert client.is_imessage("(555) 111-1111") is True  # any address is iMessage by default
    assert client.is_imessage(BOB) is False
    assert client.is_imessage(CAROL) is False
    assert client.is_imessage("Ann@Example.com") is True
    assert [r.address for r in calls(emu, "GetIMessageAvailability")] == [
        ALICE, BOB, CAROL, "ann@example.com"]
    assert all("x-idempotency-key" not in c.metadata for c in emu.requests)  # reads
    with pytest.raises(spectrum.InvalidAddress):
        client.is_imessage("not an address")


def test_focus_status(emu: Emulator, client: Client) -> None:
    emu.set_address(BOB, ["iMessage"], focused=True)
    assert client.focus_status(BOB) == spectrum.FocusStatus(address=BOB, silenced=True)
    assert client.focus_status("+1 555 111 1111").silenced is False
    assert [r.address for r in calls(emu, "GetFocusStatus")] == [BOB, ALICE]


def test_share_contact(emu: Emulator, dm: Space) -> None:
    dm.share_contact(idempotency_key="share-1")
    [share] = emu.requests[-1:]
    assert share.method == "ShareContactInfo" and share.request.chat_guid == dm.id
    assert share.metadata["x-idempotency-key"] == "share-1"
    with pytest.raises(spectrum.ValidationError):
        dm.share_contact(idempotency_key="")
