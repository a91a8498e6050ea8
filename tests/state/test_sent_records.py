"""The store's idempotency records: key -> guid of the message a keyed send made, so that a
repeat answered ``duplicateMessage`` returns the original (docs/behaviour.md,
"Idempotency")."""

from __future__ import annotations

import time

from spectrum_sync._state.base import StateStore


def test_sent_records(any_store: StateStore) -> None:
    assert any_store.get_sent("+15550000001:order-42") is None
    any_store.set_sent("+15550000001:order-42", "GUID-1")
    assert any_store.get_sent("+15550000001:order-42") == "GUID-1"
    assert any_store.get_sent("+15550000002:order-42") is None


def test_sent_records_expire(any_store: StateStore) -> None:
    any_store.set_sent("k", "GUID-1", ttl=0.05)
    any_store.set_sent("kept", "GUID-2", ttl=60)
    time.sleep(0.1)
    assert any_store.get_sent("k") is None
    assert any_store.get_sent("kept") == "GUID-2"
