"""Apple's timestamps in chat.db: time since 2001-01-01 00:00:00 UTC.

macOS 10.13 and later store nanoseconds; older databases store seconds. One column may mix
both after an upgrade, so each value is judged by its magnitude: any date after 2001-01-01
00:01:40 in nanoseconds is at least 1e11, while 1e11 seconds would be the year 5170.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["APPLE_EPOCH", "from_apple_date", "to_apple_date"]

APPLE_EPOCH = datetime(2001, 1, 1, tzinfo=timezone.utc)
_NANOSECONDS_FROM = 10**11


def from_apple_date(value: object) -> datetime | None:
    """An aware UTC datetime, or ``None`` for NULL, 0 and values that are not dates."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value == 0 or value != value:  # 0 means "never"; value != value is NaN
        return None
    try:
        if abs(value) >= _NANOSECONDS_FROM:
            return APPLE_EPOCH + timedelta(microseconds=int(value) // 1000)
        return APPLE_EPOCH + timedelta(seconds=value)
    except (OverflowError, ValueError):
        return None


def to_apple_date(moment: datetime, *, nanoseconds: bool = True) -> int:
    """The chat.db value for ``moment`` (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - APPLE_EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * 1000 if nanoseconds else micros // 1_000_000
