"""Argument checks made before any network call (see docs/behaviour.md, "Validation").

Every public call validates its input here, so that bad input fails fast with a
:class:`ValidationError` (a ``ValueError``) that names the argument, instead of a server round
trip or an error from deep inside gRPC or the protobuf runtime.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ._errors import ConfigurationError, ValidationError

__all__ = [
    "MAX_GUID_CHARS",
    "MAX_PAYLOAD_BYTES",
    "MAX_TIMEOUT",
    "check_aware_datetime",
    "check_bool",
    "check_config_timeout",
    "check_count",
    "check_guid",
    "check_idempotency_key",
    "check_interval",
    "check_optional_text",
    "check_poll_options",
    "check_poll_title",
    "check_range",
    "check_text",
    "check_timeout",
    "poll_option_key",
    "positive_number",
    "utf16_length",
]

MAX_PAYLOAD_BYTES = 100 * 1024 * 1024  # the service's message size limit (both ways)
MAX_GUID_CHARS = 1024
MAX_TIMEOUT = 86_400.0  # a day: longer deadlines are mistakes, and overflow gRPC's clock
MAX_IDEMPOTENCY_KEY = 256


def _finite_positive(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def check_timeout(timeout: float | None) -> float | None:
    """A per-call ``timeout=``: None (the client's default) or 0 < seconds <= one day."""
    if timeout is None:
        return None
    if not _finite_positive(timeout) or timeout > MAX_TIMEOUT:  # type: ignore[operator]
        raise ValidationError(
            f"timeout must be a number of seconds > 0 and <= {MAX_TIMEOUT:g}, not {timeout!r}"
        )
    return float(timeout)


def check_config_timeout(name: str, value: object) -> float:
    """A timeout given in configuration: like :func:`check_timeout`, as a ConfigurationError."""
    if not _finite_positive(value) or value > MAX_TIMEOUT:  # type: ignore[operator]
        raise ConfigurationError(
            f"{name} must be a number of seconds > 0 and <= {MAX_TIMEOUT:g}, not {value!r}"
        )
    return float(value)  # type: ignore[arg-type]


def positive_number(name: str, value: object, *, integer: bool = False,
                    allow_zero: bool = False, maximum: float | None = None) -> None:
    """For attrs validators of option objects: finite, > 0 (or >= 0), integral if asked."""
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    ok = ok and not isinstance(value, bool) and math.isfinite(value)  # type: ignore[arg-type]
    ok = ok and (value >= 0 if allow_zero else value > 0)  # type: ignore[operator]
    if ok and maximum is not None:
        ok = value <= maximum  # type: ignore[operator]
    if not ok:
        kind = "an integer" if integer else "a number"
        bound = ">= 0" if allow_zero else "> 0"
        top = f" and <= {maximum:g}" if maximum is not None else ""
        raise ConfigurationError(f"{name} must be {kind} {bound}{top}, not {value!r}")


def _check_encodable(name: str, text: str) -> int:
    """UTF-8 size of ``text``; a lone surrogate (not valid Unicode text) is refused."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"{name} contains a lone surrogate at index {exc.start} (not valid Unicode text)"
        ) from None


def check_text(name: str, text: object) -> str:
    """A non-empty string, valid Unicode, at most 100 MiB in UTF-8."""
    if not isinstance(text, str):
        raise ValidationError(f"{name} must be a string, not {type(text).__name__}")
    if not text:
        raise ValidationError(f"{name} must not be empty")
    # Each character takes at least one byte: longer strings need no encoding to be refused.
    if len(text) > MAX_PAYLOAD_BYTES or _check_encodable(name, text) > MAX_PAYLOAD_BYTES:
        raise ValidationError(f"{name} is larger than 100 MiB (the service's limit)")
    return text


def check_optional_text(name: str, text: object, *, limit: int = 10_000) -> str | None:
    """None, or a string of at most ``limit`` characters (subjects, names, effects)."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValidationError(f"{name} must be a string or None, not {type(text).__name__}")
    if len(text) > limit:
        raise ValidationError(f"{name} is longer than {limit} characters")
    _check_encodable(name, text)
    return text


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_bool(name: str, value: object) -> bool:
    """A boolean setting, from a bool or the usual words (true/false, yes/no, on/off, 1/0)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean: use 'true' or 'false'")


def check_phone(phone: object) -> str | None:
    """A line given by its number (``phone=``): a string, or None for "choose for me"."""
    if phone is not None and not isinstance(phone, str):
        raise ValidationError(f"phone must be a line's number (a string), not {phone!r}")
    return phone


def check_guid(name: str, guid: object) -> str:
    """A chat or message guid: a non-empty string of at most 1,024 characters."""
    if not isinstance(guid, str):
        raise ValidationError(f"{name} must be a string, not {type(guid).__name__}")
    if not guid:
        raise ValidationError(f"{name} must not be empty")
    if len(guid) > MAX_GUID_CHARS:
        raise ValidationError(f"{name} is longer than {MAX_GUID_CHARS} characters")
    _check_encodable(name, guid)
    return guid


def check_idempotency_key(key: Any) -> str | None:
    """A caller's idempotency key: printable ASCII (it travels as gRPC metadata), 1–256 chars."""
    if key is None:
        return None
    if not isinstance(key, str) or not key:
        raise ValidationError("idempotency_key must be a non-empty string")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationError(f"idempotency_key is longer than {MAX_IDEMPOTENCY_KEY} characters")
    if not all(" " <= ch <= "~" for ch in key):
        raise ValidationError("idempotency_key must be printable ASCII (it is sent as metadata)")
    return key


def check_bool(name: str, value: object) -> bool:
    """A real ``bool`` (not a truthy string such as ``"false"``)."""
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be True or False, not {value!r}")
    return value


def check_count(name: str, value: object, *, allow_none: bool = True) -> int | None:
    """None (when allowed) or an integer >= 1 (a limit, a page size)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError(f"{name} must be an integer >= 1{' or None' * allow_none}, "
                              f"not {value!r}")
    return value


def check_interval(name: str, value: object, *, minimum: float) -> float:
    """Seconds: a finite number between ``minimum`` and one day."""
    if not _finite_positive(value) or not minimum <= value <= MAX_TIMEOUT:  # type: ignore[operator]
        raise ValidationError(
            f"{name} must be a number of seconds between {minimum:g} and {MAX_TIMEOUT:g}, "
            f"not {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_aware_datetime(name: str, value: object) -> datetime | None:
    """None or a timezone-aware ``datetime`` (a naive one is ambiguous: local time or UTC?)."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValidationError(f"{name} must be a datetime or None, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{name} must be timezone-aware, e.g. datetime.now(timezone.utc) or a message's "
            "created_at")
    return value


def utf16_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units: the unit of formatting and mention ranges."""
    # Characters outside the Basic Multilingual Plane (most emoji) take two units.
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def check_range(name: str, start: int, length: int, text: str) -> None:
    """A (start, length) range in UTF-16 code units that lies inside ``text``."""
    total = utf16_length(text)
    if start + length > total:
        raise ValidationError(
            f"{name} range start={start} length={length} goes past the end of the text "
            f"({total} UTF-16 code units)")


def poll_option_key(text: str) -> str:
    """What makes two poll options the same: their text, ignoring case and outer spaces."""
    return text.strip().casefold()


MIN_POLL_OPTIONS, MAX_POLL_OPTIONS = 2, 10  # as the official SDK enforces them
MAX_POLL_TITLE = 300  # UTF-16 code units (the official SDK's string length)


def check_poll_title(title: object) -> str:
    """A non-empty poll title of at most 300 characters (UTF-16 units, as JavaScript counts)."""
    text = check_text("title", title)
    if utf16_length(text) > MAX_POLL_TITLE:
        raise ValidationError(
            f"a poll title has at most {MAX_POLL_TITLE} characters, got {utf16_length(text)}")
    return text


def check_poll_options(options: object) -> list[str]:
    """Two to ten non-empty, distinct option texts."""
    if isinstance(options, str) or not isinstance(options, (list, tuple)):
        raise ValidationError("options must be a list of strings")
    texts = [check_text(f"option {i}", option) for i, option in enumerate(options)]
    if len(texts) < MIN_POLL_OPTIONS:
        raise ValidationError(f"a poll needs at least two options, got {len(texts)}")
    if len(texts) > MAX_POLL_OPTIONS:
        raise ValidationError(
            f"a poll has at most {MAX_POLL_OPTIONS} options, got {len(texts)}")
    seen: set[str] = set()
    for text in texts:
        if poll_option_key(text) in seen:
            raise ValidationError(f"duplicate poll option {text!r}")
        seen.add(poll_option_key(text))
    return texts
