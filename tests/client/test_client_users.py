"""client.user(): normalisation, InvalidAddress before any RPC, resolution, cache."""

from __future__ import annotations

import time

import pytest
from client_helpers import ALICE, ClientFactory, calls

import spectrum_sync as spectrum
from spectrum_sync import Client
from spectrum_sync.emulator import Emulator


@pytest.mark.parametrize(
    ("raw", "address", "country"),
    [
        ("+1 (555) 111-1111", ALICE, "US"),
        ("(555) 111-1111", ALICE, "US"),  # default region US
        ("  +44 20 7946 0958 ", "+442079460958", "GB"),
        (" Bob@Example.COM ", "bob@example.com", None),
    ],
)
def test_addresses_are_normalised(
    client: Client, raw: str, address: str, country: str | None
) -> None:
    user = client.user(raw)
    assert user.address == address
    assert user.country == country
    assert user.service == "iMessage"  # the emulator's default directory


@pytest.mark.parametrize(
    "raw", ["12", "+1555", "abc", "", "   ", "bob@", "@example.com", "bob@example",
            "bob@@example.com", "a b@example.com", "bob@example..com"],
)
def test_invalid_addresses_raise_before_any_rpc(
    emu: Emulator, client: Client, raw: str
) -> None:
    emu.clear_requests()
    with pytest.raises(spectrum.InvalidAddress) as info:
        client.user(raw)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, spectrum.ValidationError)
    with pytest.raises(spectrum.InvalidAddress):
        client.space.create(raw)
    assert emu.requests == []


def test_a_number_read_in_the_wrong_region_is_refused_with_the_fix(
    emu: Emulator, client: Client, make_client: ClientFactory
) -> None:
    """A French mobile written nationally, read as US, is possible by length but not valid."""
    emu.clear_requests()
    with pytest.raises(spectrum.InvalidAddress) as info:
        client.space.create("06 12 34 56 78").send("hello")
    message = str(info.value)
    assert "not a valid phone number in region US" in message
    assert "+<country code>" in message and "default_region=" in message
    assert emu.requests == []
    with pytest.raises(spectrum.InvalidAddress, match="check the country code"):
        client.user("+1 061 234 5678")  # the same number, as it would have been sent

    french = make_client(emu, default_region="FR").user("06 12 34 56 78", resolve=False)
    assert (french.address, french.country) == ("+33612345678", "FR")


def test_the_example_area_code_555_is_accepted(client: Client) -> None:
    """+1 555 is never assigned (phonenumbers calls it invalid): the numbers of examples,
    the emulator's lines and tests, accepted on purpose."""
    assert client.user("+1 555 000 0001", resolve=False).address == "+15550000001"


def test_default_region_is_configurable(emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(emu, default_region="GB")
    user = client.user("020 7946 0958", resolve=False)
    assert (user.address, user.country) == ("+442079460958", "GB")


def test_service_and_country_come_from_the_server(emu: Emulator, client: Client) -> None:
    emu.set_address("+15553333333", services=["SMS"], country="CA")
    emu.set_address("+15554444444", services=["RCS", "SMS"])
    assert client.user("+15553333333") == spectrum.User("+15553333333", "CA", "SMS")
    assert client.user("+15554444444").service == "SMS"


def test_unknown_address_is_not_an_error(emu: Emulator, client: Client) -> None:
    emu.set_address("+15555555555", services=[])  # GetAddressInfo answers NOT_FOUND
    user = client.user("+15555555555")
    assert user == spectrum.User("+15555555555", "US", "unknown")


def test_resolve_false_makes_no_rpc(emu: Emulator, client: Client) -> None:
    emu.clear_requests()
    user = client.user("+1 555 111 1111", resolve=False)
    assert user == spectrum.User(ALICE, "US", "unknown")
    assert emu.requests == []


def test_cache_hits_and_misses(emu: Emulator, client: Client) -> None:
    emu.clear_requests()
    first = client.user("+1 (555) 111-1111")
    assert client.user("+1 (555) 111-1111") is first  # raw-input hit
    assert client.user(ALICE) is first  # normalised hit
    assert client.user(ALICE, resolve=False) is first
    assert len(calls(emu, "GetAddressInfo")) == 1
    stats = client.user_cache_stats()
    assert (stats.hits, stats.misses) == (3, 1)
    assert stats.size >= 1


def test_cache_ttl_expires(emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(emu, user_cache_ttl=0.2)
    emu.clear_requests()
    client.user(ALICE)
    time.sleep(0.3)
    client.user(ALICE)
    assert len(calls(emu, "GetAddressInfo")) == 2
