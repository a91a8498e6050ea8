"""Group management on dedicated lines: name, members, leaving, icon."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich_helpers import ALICE, BOB, CAROL, LINE_1, PNG, ClientFactory, EmulatorFactory, calls

import spectrum_sync as spectrum
from spectrum_sync import Client, Space
from spectrum_sync.emulator import Emulator


@pytest.fixture
def group(client: Client) -> Space:
    return client.space.create([ALICE, BOB], phone=LINE_1)


def test_rename_add_remove(emu: Emulator, client: Client, group: Space) -> None:
    renamed = group.rename("Weekend")
    assert renamed == group and renamed.display_name == "Weekend"
    assert group.refresh().display_name == "Weekend"
    after_add = group.add(["(555) 333-3333", spectrum.User(address=ALICE)])
    assert after_add == group
    assert {u.address for u in group.participants()} == {ALICE, BOB, CAROL}
    [add] = calls(emu, "AddParticipants")
    assert list(add.addresses) == [CAROL, ALICE]  # normalised, in order, once each
    group.remove(BOB)
    assert {u.address for u in group.participants()} == {ALICE, CAROL}
    assert group.rename("").display_name == ""
    assert [r.display_name for r in calls(emu, "SetDisplayName")] == ["Weekend", ""]
    # Every change was published as a group event too.
    with client.events("group", include_own=True) as events:
        group.rename("Again")
        event = next(iter(events))
    assert isinstance(event, spectrum.GroupChanged)
    assert (event.change, event.display_name, event.is_from_me) == ("renamed", "Again", True)


def test_icon_round_trip_from_bytes_path_and_file(group: Space, tmp_path: Path) -> None:
    assert group.icon() is None
    group.set_icon(PNG)
    assert group.icon() == PNG
    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 100
    path = tmp_path / "icon.jpg"
    path.write_bytes(jpeg)
    group.set_icon(path)
    assert group.icon() == jpeg
    group.set_icon(io.BytesIO(PNG))
    assert group.icon() == PNG
    group.remove_icon()
    assert group.icon() is None
    group.remove_icon()  # nothing to remove: fine


def test_leave_stops_sending(emu: Emulator, group: Space) -> None:
    group.leave()
    assert len(calls(emu, "LeaveGroup")) == 1
    with pytest.raises(spectrum.ValidationError):
        group.send("still here?")


def test_group_operations_on_a_dm_are_unsupported(emu: Emulator, dm: Space,
                                                  tmp_path: Path) -> None:
    emu.clear_requests()
    operations = [
        lambda: dm.rename("x"), lambda: dm.add(BOB), lambda: dm.remove(ALICE),
        dm.leave, lambda: dm.set_icon(PNG), dm.remove_icon, dm.icon,
    ]
    for operation in operations:
        with pytest.raises(spectrum.UnsupportedError, match="direct chat, not a group") as info:
            operation()
        assert info.value.mode == "dedicated"
    assert emu.requests == []


def test_group_operations_in_shared_mode_are_unsupported(
        make_emulator: EmulatorFactory, make_client: ClientFactory) -> None:
    emu = make_emulator(plan="shared")
    client = make_client(emu)
    emu.simulate_inbound(ALICE, "hi all", chat="any;+;chat42")
    group = client.space.get("any;+;chat42")
    assert group.type == "group" and group.phone == "shared"
    emu.clear_requests()
    for operation in (lambda: group.rename("x"), lambda: group.add(BOB), group.leave,
                      group.icon, group.remove_icon):
        with pytest.raises(spectrum.UnsupportedError) as info:
            operation()
        assert info.value.mode == "shared"
    assert emu.requests == []


def test_bad_input_is_refused_first(emu: Emulator, group: Space, tmp_path: Path) -> None:
    emu.clear_requests()
    with pytest.raises(spectrum.ValidationError):
        group.rename(None)  # type: ignore[arg-type]
    with pytest.raises(spectrum.ValidationError, match="at least one"):
        group.add([])
    with pytest.raises(spectrum.InvalidAddress):
        group.add("not an address")
    with pytest.raises(spectrum.ValidationError, match="does not exist"):
        group.set_icon(tmp_path / "none.png")
    with pytest.raises(spectrum.ValidationError, match="empty"):
        group.set_icon(b"")
    assert emu.requests == []
