"""The one backoff formula: bounded, jittered, never overflowing."""

from __future__ import annotations

import math

import pytest

from spectrum_sync._backoff import backoff_ceiling, jittered


def test_it_doubles_up_to_the_cap() -> None:
    assert [backoff_ceiling(n, 0.5, 30) for n in range(8)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


@pytest.mark.parametrize("attempt", [1024, 1025, 10**6, 10**12])
def test_a_week_of_failures_does_not_overflow(attempt: int) -> None:
    assert backoff_ceiling(attempt, 0.5, 30.0) == 30.0
    assert 0 <= jittered(attempt, 0.5, 30.0) <= 30.0
    assert math.isfinite(jittered(attempt, 1e-9, 1e9))


def test_full_and_floored_jitter_stay_in_range() -> None:
    full = [jittered(3, 1.0, 100.0) for _ in range(500)]
    floored = [jittered(3, 1.0, 100.0, floor=0.5) for _ in range(500)]
    assert min(full) >= 0 and max(full) <= 8.0 and min(full) < 2.0
    assert min(floored) >= 4.0 and max(floored) <= 8.0


def test_negative_attempts_count_as_the_first() -> None:
    assert backoff_ceiling(-3, 0.5, 30) == 0.5
