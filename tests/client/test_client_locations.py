"""Friend locations (LocationService): list, get, request sharing, watch; the emulator serves
all four RPCs."""

from __future__ import annotations

import threading

import pytest
from client_helpers import ALICE, BOB, LINE_1, LINE_2, ClientFactory, EmulatorFactory, calls

import spectrum_sync as spectrum
from spectrum_sync import Client
from spectrum_sync.emulator import Emulator


def test_list_and_get(emu: Emulator, client: Client) -> None:
    emu.set_friend_location(ALICE, 48.8584, 2.2945, name="Alice", accuracy=12.5,
                            short_address="Paris", line=LINE_2)
    emu.set_friend_location(BOB, line=LINE_2)  # still being located
    found = {loc.address: loc for loc in client.friend_locations(phone=LINE_2)}
    alice, bob = found[ALICE], found[BOB]
    assert (alice.latitude, alice.longitude, alice.accuracy) == (48.8584, 2.2945, 12.5)
    assert (alice.name, alice.short_address, alice.kind, alice.phone) == (
        "Alice", "Paris", "live", LINE_2)
    assert alice.located_at is not None and not alice.locating
    assert bob.locating and bob.latitude is None
    assert client.friend_location("+1 (555) 111-1111", phone=LINE_2) == alice
    assert client.friend_location("+15559999999", phone=LINE_2) is None
    assert client.friend_locations(phone=LINE_1) == []
    with pytest.raises(spectrum.RoutingError, match="pass phone="):
        client.friend_locations()  # two lines: which one's friends?


def test_request_sharing(emu: Emulator, client: Client) -> None:
    dm = client.space.create(ALICE, phone=LINE_1)
    answer = client.request_location(dm, ALICE, idempotency_key="where-are-you")
    assert (answer.address, answer.status) == (ALICE, "sent")
    assert emu.location_requests(LINE_1) == [(dm.id, ALICE)]
    (request,) = calls(emu, "RequestFriendLocationSharing")
    assert request.request.client_message_id == "where-are-you"
    with pytest.raises(spectrum.ValidationError):
        client.request_location(dm, BOB)  # not in the chat


def test_watch(make_emulator: EmulatorFactory, make_client: ClientFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE_1], heartbeat_interval=0.2)
    client = make_client(emu)
    updates = client.watch_friend_locations(ALICE)

    def move() -> None:
        emu.wait_for_streams(1)
        emu.set_friend_location(BOB, 1.0, 1.0)  # not watched
        emu.set_friend_location(ALICE, 10.0, 20.0)
        emu.set_friend_location(ALICE, 10.5, 20.5, kind="legacy")

    thread = threading.Thread(target=move)
    thread.start()
    first, second = next(updates), next(updates)
    thread.join()
    updates.close()  # type: ignore[attr-defined]
    assert [(u.address, u.latitude, u.kind) for u in (first, second)] == [
        (ALICE, 10.0, "live"), (ALICE, 10.5, "legacy")]
