"""Structured fields of the library's log records (``logging``'s ``extra=``).

Every field is named ``spectrum_*`` so that it never collides with a ``LogRecord``
attribute, and is present only where it applies: ``spectrum_line`` (the phone of our line),
``spectrum_family`` (``messages``, ``groups``, ``polls``...), ``spectrum_chat`` (the chat guid,
phone numbers and e-mail addresses masked as in traces), ``spectrum_sequence`` (an event's
sequence), ``spectrum_code`` (an error code). A JSON formatter can copy them as they are (the
README, "Logging", shows one).
"""

from __future__ import annotations

from typing import Any

from ._telemetry import mask

__all__ = ["FIELDS", "fields"]

#: The names a record may carry.
FIELDS = ("spectrum_line", "spectrum_family", "spectrum_chat", "spectrum_sequence",
          "spectrum_code")


def fields(*, line: str | None = None, family: str | None = None, chat: str | None = None,
           sequence: int | None = None, code: str | None = None) -> dict[str, Any]:
    """The ``extra=`` mapping for one record: the given fields, the chat masked."""
    found: dict[str, Any] = {}
    if line is not None:
        found["spectrum_line"] = line
    if family is not None:
        found["spectrum_family"] = family
    if chat is not None:
        found["spectrum_chat"] = mask(chat)
    if sequence is not None:
        found["spectrum_sequence"] = sequence
    if code is not None:
        found["spectrum_code"] = code
    return found
