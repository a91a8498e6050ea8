"""Apple dates: nanoseconds and legacy seconds since 2001-01-01 UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from spectrum_sync._local.dates import APPLE_EPOCH, from_apple_date, to_apple_date

MOMENT = datetime(2024, 5, 17, 9, 30, 12, 345678, tzinfo=timezone.utc)
SECONDS = 737_631_012  # MOMENT without its fraction, in seconds since 2001-01-01


def test_epoch_is_2001_utc() -> None:
    assert datetime(2001, 1, 1, tzinfo=timezone.utc) == APPLE_EPOCH
    assert APPLE_EPOCH.timestamp() == 978_307_200


def test_nanoseconds() -> None:
    value = SECONDS * 10**9 + 345_678_000
    assert from_apple_date(value) == MOMENT
    assert from_apple_date(value + 999) == MOMENT  # sub-microsecond digits are dropped


def test_legacy_seconds() -> None:
    assert from_apple_date(SECONDS) == MOMENT.replace(microsecond=0)
    assert from_apple_date(float(SECONDS) + 0.5) == MOMENT.replace(microsecond=500_000)


def test_result_is_aware_utc() -> None:
    result = from_apple_date(SECONDS)
    assert result is not None and result.tzinfo is timezone.utc


@pytest.mark.parametrize("value", [None, 0, 0.0, float("nan"), "123", b"1", True, [1]])
def test_no_date(value: object) -> None:
    assert from_apple_date(value) is None


def test_magnitude_boundary() -> None:
    # 1e11 - 1 is read as seconds (year 5170), 1e11 as nanoseconds (100 s after the epoch).
    assert from_apple_date(10**11) == APPLE_EPOCH + timedelta(seconds=100)
    assert from_apple_date(10**11 - 1) is not None
    assert from_apple_date(10**11 - 1).year == 5169  # type: ignore[union-attr]


def test_out_of_range_gives_none() -> None:
    assert from_apple_date(10**30) is None
    assert from_apple_date(float("inf")) is None


def test_before_the_epoch() -> None:
    assert from_apple_date(-86_400) == APPLE_EPOCH - timedelta(days=1)
    assert from_apple_date(-86_400 * 10**9) == APPLE_EPOCH - timedelta(days=1)


def test_to_apple_date_round_trips() -> None:
    assert to_apple_date(MOMENT) == SECONDS * 10**9 + 345_678_000
    assert to_apple_date(MOMENT, nanoseconds=False) == SECONDS
    assert from_apple_date(to_apple_date(MOMENT)) == MOMENT
    naive = MOMENT.replace(tzinfo=None)
    assert to_apple_date(naive) == to_apple_date(MOMENT)
    other_zone = MOMENT.astimezone(timezone(timedelta(hours=-7)))
    assert to_apple_date(other_zone) == to_apple_date(MOMENT)
