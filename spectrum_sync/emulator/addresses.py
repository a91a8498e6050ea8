"""Address validation and the emulator's address directory (who is on iMessage, SMS, RCS)."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable
from typing import NamedTuple

import phonenumbers

from spectrum_sync._proto import common_pb2
from spectrum_sync.emulator.errors import invalid

_EMAIL = re.compile(r"^[^@\s;]+@[^@\s;]+\.[^@\s;]+$")

SERVICE_NAMES: dict[str, common_pb2.ChatServiceType.ValueType] = {
    "imessage": common_pb2.CHAT_SERVICE_TYPE_IMESSAGE,
    "sms": common_pb2.CHAT_SERVICE_TYPE_SMS,
    "rcs": common_pb2.CHAT_SERVICE_TYPE_RCS,
}


# Both are pure functions of their text and run on every inbound message and line lookup: a
# bulk injection re-parses the same few numbers, which was a fifth of the emulator's time.
@functools.lru_cache(maxsize=4096)
def normalize_address(raw: str) -> str:
    """E.164 for phone numbers, trimmed lower-case for e-mail; ``invalidArgument`` otherwise.

    Phone numbers must be international (``+`` and country code). Possible-but-unassigned
    numbers (such as the fictional 555 range) are accepted, as tests rely on them.
    """
    text = (raw or "").strip()
    if not text:
        raise invalid("address is empty", field="address")
    if "@" in text:
        if not _EMAIL.match(text):
            raise invalid(f"malformed e-mail address {raw!r}", field="address")
        return text.lower()
    if not text.startswith("+"):
        raise invalid(f"address {raw!r} is neither E.164 nor e-mail", field="address")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise invalid(f"malformed phone number {raw!r}", field="address") from None
    if not phonenumbers.is_possible_number(number):
        raise invalid(f"impossible phone number {raw!r}", field="address")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=4096)
def phone_country(address: str) -> str | None:
    """ISO region of an E.164 number (main region of its country code when unassigned)."""
    if not address.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(address, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    if not region or region == "ZZ":
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    return None if region in (None, "ZZ", "001") else region


class AddressEntry(NamedTuple):
    """What the directory knows about one address (an empty ``services`` = unknown)."""

    address: str
    services: tuple[common_pb2.ChatServiceType.ValueType, ...]
    country: str | None
    focused: bool = False


class AddressDirectory:
    """Default: every valid address is on iMessage; ``set`` overrides single entries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, AddressEntry] = {}

    def set(self, address: str, services: Iterable[str] = ("iMessage",),
            country: str | None = None, focused: bool = False) -> None:
        """Record ``address`` with ``services`` (names: iMessage, SMS, RCS; empty = unknown)."""
        canonical = normalize_address(address)
        codes: list[common_pb2.ChatServiceType.ValueType] = []
        for name in services:
            try:
                codes.append(SERVICE_NAMES[name.lower()])
            except KeyError:
                raise ValueError(f"unknown service {name!r} (iMessage, SMS, RCS)") from None
        entry = AddressEntry(canonical, tuple(sorted(set(codes))),
                             country or phone_country(canonical), focused)
        with self._lock:
            self._entries[canonical] = entry

    def lookup(self, canonical: str) -> AddressEntry:
        """The entry for an already normalised address."""
        with self._lock:
            entry = self._entries.get(canonical)
        if entry is None:
            entry = AddressEntry(canonical, (common_pb2.CHAT_SERVICE_TYPE_IMESSAGE,),
                                 phone_country(canonical))
        return entry

    def sender_info(self, canonical: str) -> common_pb2.SingleServiceAddressInfo:
        """The ``SingleServiceAddressInfo`` of ``canonical`` (its preferred service)."""
        entry = self.lookup(canonical)
        info = common_pb2.SingleServiceAddressInfo(
            address=canonical,
            service=entry.services[0] if entry.services else common_pb2.CHAT_SERVICE_TYPE_IMESSAGE,
        )
        if entry.country:
            info.country = entry.country
        return info
