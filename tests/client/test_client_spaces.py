"""client.space: creation and lookup with the routing rules (docs/behaviour.md)."""

from __future__ import annotations

import threading

import pytest
from client_helpers import ALICE, BOB, LINE_1, LINE_2, ClientFactory, EmulatorFactory, calls

import spectrum_sync as spectrum
from spectrum_sync import Client
from spectrum_sync._proto import common_pb2
from spectrum_sync.emulator import Emulator


def _line_of(emu: Emulator, call: object) -> str | None:
    token = call.metadata["authorization"].split()[1]  # type: ignore[attr-defined]
    return emu.line_for_token(token).number


def test_dm_on_a_named_line(emu: Emulator, client: Client) -> None:
    alice = client.user(ALICE)
    space = client.space.create(alice, phone=LINE_2)
    assert (space.id, space.type, space.phone) == (f"any;-;{ALICE}", "dm", LINE_2)
    (create,) = calls(emu, "CreateChat")
    assert list(create.request.addresses) == [ALICE]
    assert _line_of(emu, create) == LINE_2


def test_create_sends_imessage_unless_asked(emu: Emulator, client: Client) -> None:
    """The official client always names the service; UNSPECIFIED is never sent."""
    client.space.create(ALICE, phone=LINE_1)
    client.space.create(BOB, phone=LINE_1, service="SMS")
    client.space.create("+15553333333", phone=LINE_1, service="rcs")
    services = [c.request.service for c in calls(emu, "CreateChat")]
    assert services == [common_pb2.CHAT_SERVICE_TYPE_IMESSAGE, common_pb2.CHAT_SERVICE_TYPE_SMS,
                        common_pb2.CHAT_SERVICE_TYPE_RCS]
    emu.clear_requests()
    with pytest.raises(spectrum.ValidationError, match="service must be one of"):
        client.space.create(ALICE, service="Carrier pigeon")
    assert emu.requests == []


def test_participants_are_the_other_people(emu: Emulator, client: Client) -> None:
    """The service lists the line's own number; participants() leaves it out."""
    dm = client.space.create(ALICE, phone=LINE_2)
    assert [u.address for u in dm.participants()] == [ALICE]


def test_group_creation(emu: Emulator, client: Client) -> None:
    group = client.space.create([client.user(ALICE), BOB], phone=LINE_1)
    assert group.type == "group" and group.phone == LINE_1
    assert ";+;" in group.id
    assert {u.address for u in group.participants()} == {ALICE, BOB}


def test_random_line_then_pinned_for_every_action(emu: Emulator, client: Client) -> None:
    seen = set()
    for i in range(30):
        space = client.space.create(f"+1555777{i:04d}")
        seen.add(space.phone)
        emu.clear_requests()
        message = space.send("hi")
        message.react("👍")
        message.edit("hi!")
        with space.typing():
            pass
        space.mark_read()
        message.reply("more")
        message.unsend()
        assert {_line_of(emu, c) for c in emu.requests} == {space.phone}
    assert seen == {LINE_1, LINE_2}  # both lines get picked


def test_get_uses_the_routing_cache(emu: Emulator, client: Client) -> None:
    created = client.space.create(ALICE, phone=LINE_2)
    emu.clear_requests()
    again = client.space.get(created.id)
    assert again == created and again.phone == LINE_2
    assert emu.requests == []  # no RPC


def test_get_with_a_phone_and_unknown_phone(client: Client) -> None:
    space = client.space.get(f"any;-;{BOB}", phone=LINE_1)
    assert (space.type, space.phone) == ("dm", LINE_1)
    group = client.space.get("iMessage;+;chat42", phone=LINE_2)
    assert group.type == "group"
    with pytest.raises(spectrum.RoutingError) as info:
        client.space.get(f"any;-;{BOB}", phone="+15559999999")
    assert LINE_1 in str(info.value) and LINE_2 in str(info.value)


def test_ambiguous_get_lists_the_numbers(client: Client) -> None:
    with pytest.raises(spectrum.RoutingError) as info:
        client.space.get(f"any;-;{BOB}")
    assert info.value.available == [LINE_1, LINE_2]
    assert LINE_1 in str(info.value) and LINE_2 in str(info.value)


def test_single_line_needs_no_phone(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE_1])
    client = make_client(emu)
    assert client.space.get(f"any;-;{BOB}").phone == LINE_1


def test_routing_learned_from_inbound_traffic(emu: Emulator, client: Client) -> None:
    # A receive loop learns which line serves a chat from the messages that arrive.
    def inbound() -> None:
        emu.wait_for_subscribers(6)
        emu.simulate_inbound(BOB, "hi all", chat="iMessage;+;chat77", line=LINE_2)

    threading.Thread(target=inbound).start()
    for message in client.messages():
        assert message.space.phone == LINE_2
        break
    assert client.space.get("iMessage;+;chat77").phone == LINE_2


def test_invalid_guids_are_refused(client: Client) -> None:
    for guid in ["", "nonsense", "any;x;+1555", "any;-;", ";-;+15551111111"]:
        with pytest.raises(spectrum.ValidationError):
            client.space.get(guid, phone=LINE_1)
    # Only the first two ';' split: identifiers may contain more.
    assert client.space.get("iMessage;+;a;b", phone=LINE_1).type == "group"


def test_shared_mode_refuses_groups(shared_emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(shared_emu)
    with pytest.raises(spectrum.UnsupportedError) as info:
        client.space.create([ALICE, BOB])
    assert (info.value.feature, info.value.mode) == ("group chats", "shared")
    assert calls(shared_emu, "CreateChat") == []
    space = client.space.create(ALICE, phone="+15550000009")  # phone= is ignored
    assert space.phone == "shared"
    assert client.space.get("iMessage;+;chat1").phone == "shared"


def test_unexpected_user_types_are_refused(client: Client) -> None:
    with pytest.raises(spectrum.ValidationError):
        client.space.create([42])  # type: ignore[list-item]
    with pytest.raises(spectrum.ValidationError):
        client.space.create([])


def test_line_numbers_in_any_spelling(client: Client) -> None:
    space = client.space.create(ALICE, phone="+1 (555) 000-0002")
    assert space.phone == LINE_2
    assert client.space.get(f"any;-;{BOB}", phone="(555) 000-0001").phone == LINE_1
    assert client.quota("+1 555 000 0002").line == LINE_2


def test_the_same_person_stays_on_the_same_line(emu: Emulator, client: Client) -> None:
    # Idempotency keys are remembered per line: a repeated creation (a retried task) must
    # land on the line that already talks to that person.
    first = client.space.create(ALICE)
    for _ in range(10):
        assert client.space.create(ALICE).phone == first.phone


def test_space_get_with_a_phone_remembers_the_route(client: Client) -> None:
    guid = "iMessage;+;chat-from-a-webhook"
    assert client.space.get(guid, phone=LINE_2).phone == LINE_2
    assert client.space.get(guid).phone == LINE_2  # two lines, and no phone= needed now
