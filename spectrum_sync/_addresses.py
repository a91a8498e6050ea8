"""Addresses and chat guids: normalisation and parsing, with no network and no state.

A leaf module: user lookups, line lookups and the backends all use it.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from ._errors import InvalidAddress, ValidationError
from ._validate import check_guid

if TYPE_CHECKING:
    import phonenumbers

__all__ = ["DM", "GROUP", "dm_guid", "normalize_address", "parse_chat_guid", "space_type"]

DM, GROUP = "dm", "group"

# An e-mail handle: an unquoted RFC 5322 local part and a DNS name of ASCII labels (IDNs in
# their xn-- form). Stricter than RFC 5322 on purpose: iMessage handles are plain addresses,
# and "mailto:a@b.co" or "🙂@example.com" are mistakes to report, not handles to send to.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# A pattern text, compiled on first use (re caches it): a one-shot send to a phone never
# needs it.
_EMAIL = rf"^{_LOCAL}@(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?$"
_MAX_ADDRESS = 320
# A North American example number (area code 555, see _is_example_number) already written in
# E.164: the emulator's lines and the documentation's examples. Its answer is known without
# phonenumbers, whose import and scan of every NANPA region to rule out an assigned range
# would cost a one-shot script ~25 ms. ASCII digits only: other digits go the long way.
_E164_EXAMPLE = re.compile(r"\+1555[0-9]{7}")


def _country_of(number: phonenumbers.PhoneNumber) -> str | None:
    import phonenumbers

    region = phonenumbers.region_code_for_number(number)
    if not region or region == "ZZ":
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    return None if region in (None, "ZZ", "001") else str(region)


def normalize_address(address: object, default_region: str = "US") -> tuple[str, str | None]:
    """E.164 phone number or lower-case e-mail address, plus the number's country.

    Raises :class:`InvalidAddress` (a ``ValueError``) for anything else, before any network
    call."""
    if not isinstance(address, str):
        raise InvalidAddress(address, "an address must be a string")
    return _normalize(address, default_region)


@functools.lru_cache(maxsize=4096)
def _normalize(address: str, default_region: str) -> tuple[str, str | None]:
    # Pure, and a phonenumbers parse costs ~40 us: repeated addresses become a dict hit.
    # Errors are raised, never cached.
    text = address.strip()
    if not text:
        raise InvalidAddress(address, "empty address")
    if len(text) > _MAX_ADDRESS:
        raise InvalidAddress(address[:40] + "...", "too long to be an address")
    if "@" in text:
        email = text.lower()
        if not re.match(_EMAIL, email):
            raise InvalidAddress(address, "not a valid e-mail address")
        return email, None
    if _E164_EXAMPLE.fullmatch(text):
        # What the general path below returns for it: possible, not valid but an example
        # number, formatted as written; no region of +1 claims 555, so the country is +1's.
        return text, "US"
    # Imported on first use: phonenumbers adds ~10 ms to ``import spectrum_sync``.
    import phonenumbers

    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidAddress(address, "not a phone number or e-mail address") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidAddress(address, "not a possible phone number" + _how_to_fix(text,
                                                                                 default_region))
    if not (phonenumbers.is_valid_number(number) or _is_example_number(number)):
        # A national number read in the wrong region (a French "06 12 34 56 78" read as US
        # gives +1 061...): possible by length, but in no allocated range.
        raise InvalidAddress(address, "not a valid phone number" + _how_to_fix(text,
                                                                              default_region))
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, _country_of(number)


def _is_example_number(number: phonenumbers.PhoneNumber) -> bool:
    """The North American area code 555, never assigned: the numbers of examples and tests.

    See docs/behaviour.md, "Validation": the emulator's lines and the documentation use it,
    and no real person can be reached there by mistake."""
    return number.country_code == 1 and str(number.national_number).startswith("555")


def _how_to_fix(text: str, default_region: str) -> str:
    if text.startswith("+"):
        return ": check the country code and the digits"
    return (f" in region {default_region}: write it with +<country code> (e.g. +33 6 12 34 56 "
            "78), or set the client's default_region= to the region it is written for")


def parse_chat_guid(guid: object) -> tuple[str, str, str]:
    """Split ``<service>;<kind>;<identifier>`` on the first two ``;`` (kind ``-`` DM, ``+``
    group); :class:`ValidationError` for anything else."""
    text = check_guid("chat guid", guid)
    parts = text.split(";", 2)
    if len(parts) != 3 or not parts[0] or parts[1] not in ("-", "+") or not parts[2]:
        raise ValidationError(
            f"invalid chat guid {text!r}: expected '<service>;-;<address>' or "
            "'<service>;+;<identifier>'"
        )
    return parts[0], parts[1], parts[2]


def space_type(guid: str) -> str:
    """ "dm" or "group" from a chat guid."""
    return GROUP if parse_chat_guid(guid)[1] == "+" else DM


def dm_guid(address: str) -> str:
    """The guid the library uses for a direct chat with ``address``."""
    return f"any;-;{address}"
