"""QuotaTracker: reservations, refusals, release, the UTC day (no network)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

import spectrum_sync as spectrum
from spectrum_sync import MemoryStore, QuotaLimits
from spectrum_sync._backend.quotas import QuotaTracker
from spectrum_sync._state.monitor import StoreMonitor

LINE = "+15550000001"


def tracker(limits: QuotaLimits, now: list[float], store: object = None) -> QuotaTracker:
    return QuotaTracker(store or MemoryStore(), limits, StoreMonitor(),  # type: ignore[arg-type]
                        clock=lambda: now[0])


def test_counters_reset_at_utc_midnight() -> None:
    now = [datetime(2026, 1, 1, 23, 59, tzinfo=timezone.utc).timestamp()]
    quotas = tracker(QuotaLimits(messages_per_day=1), now)
    quotas.reserve(LINE, "chat").commit()
    with pytest.raises(spectrum.QuotaExceeded) as info:
        quotas.reserve(LINE, "chat")
    assert info.value.resets_at == datetime(2026, 1, 2, tzinfo=timezone.utc)
    assert (info.value.kind, info.value.limit, info.value.line) == ("messages", 1, LINE)
    now[0] += 120  # 00:01 the next day
    assert quotas.usage(LINE).messages == 0
    assert quotas.usage(LINE).day == "2026-01-02"
    quotas.reserve(LINE, "chat").commit()
    assert quotas.usage(LINE).new_conversations == 0  # the chat was known from yesterday


def test_new_conversation_limit_and_release() -> None:
    quotas = tracker(QuotaLimits(new_conversations_per_day=2), [1e9])
    first = quotas.reserve(LINE, "a")
    second = quotas.reserve(LINE, "b")
    with pytest.raises(spectrum.QuotaExceeded) as info:
        quotas.reserve(LINE, "c")
    assert info.value.kind == "new_conversations"
    assert quotas.usage(LINE).messages == 2  # the refused third gave its message unit back
    second.release()  # that send failed before reaching the server
    third = quotas.reserve(LINE, "c")
    first.commit()
    third.commit()
    assert (quotas.usage(LINE).messages, quotas.usage(LINE).new_conversations) == (2, 2)
    quotas.reserve(LINE, "a").commit()  # a reply in a known chat is no new conversation
    assert quotas.usage(LINE).new_conversations == 2


def test_unenforced_reservations_only_count() -> None:
    quotas = tracker(QuotaLimits(messages_per_day=0), [1e9])
    for chat in "abc":
        quotas.reserve(LINE, chat, enforce=False).commit()
    assert quotas.usage(LINE).messages == 3


class BrokenStore(MemoryStore):
    def reserve(self, key: str, limit: int | None, ttl: float | None = None) -> bool:
        raise OSError("disk full")

    def add_member(self, group: str, member: str) -> bool:
        raise OSError("disk full")


def test_a_failing_store_never_blocks_or_fails_a_send() -> None:
    monitor = StoreMonitor()
    quotas = QuotaTracker(BrokenStore(), QuotaLimits(), monitor)
    reservation = quotas.reserve(LINE, "chat")  # no exception: the send goes on
    reservation.commit()  # no exception either: the message is out
    assert monitor.failures == 1 and monitor.last_error and "disk full" in monitor.last_error
    assert monitor.skipped == 1  # the store is skipped for a while after a failure


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True, float("nan")])
def test_limits_are_validated(bad: object) -> None:
    with pytest.raises(spectrum.ConfigurationError):
        QuotaLimits(messages_per_day=bad)  # type: ignore[arg-type]
