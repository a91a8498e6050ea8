"""Commit ledgers and the committer: prefix commits, out-of-order acks, gaps, failures."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from spectrum_sync import MemoryStore
from spectrum_sync._receive.ledger import Committer, Ledger, cursor_key, cursor_source


class RecordingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[dict[str, int]] = []
        self.failing = False

    def set_cursors(self, cursors: Mapping[str, int]) -> None:
        if self.failing:
            raise OSError("disk full")
        self.writes.append(dict(cursors))
        super().set_cursors(cursors)


def make() -> tuple[RecordingStore, Committer, list[BaseException]]:
    store = RecordingStore()
    errors: list[BaseException] = []
    return store, Committer(store, 0.0, errors.append), errors


def test_the_cursor_is_the_end_of_the_acknowledged_prefix() -> None:
    store, committer, _ = make()
    ledger = Ledger("line/messages", committer)
    ledger.load(10)
    acks = {seq: ledger.issue(seq) for seq in (11, 12, 13, 14)}
    acks[12]()
    acks[14]()
    assert ledger.committed == 10  # 11 is still being processed
    acks[11]()
    assert ledger.committed == 12  # 13 holds the rest back
    acks[13]()
    assert ledger.committed == 14
    assert committer.write_once()
    assert store.get_cursor("line/messages") == 14
    assert ledger.outstanding == 0


def test_acks_are_idempotent_and_writes_batched() -> None:
    store, committer, _ = make()
    a, b = Ledger("a/messages", committer), Ledger("b/polls", committer)
    a.load(None)
    b.load(None)
    ack_a, ack_b = a.issue(5), b.issue(7)
    ack_a()
    ack_a()
    ack_b()
    assert committer.write_once()
    # One write for both streams, each cursor with the time it was written beside it.
    [write] = store.writes
    assert _cursors(write) == {"a/messages": 5, "b/polls": 7}
    assert write["a/messages@written"] == write["b/polls@written"] > 1.7e9
    assert committer.write_once() and len(store.writes) == 1  # nothing new: no write


def test_a_reset_detaches_earlier_acks() -> None:
    _, committer, _ = make()
    ledger = Ledger("line/messages", committer)
    ledger.load(500)
    stale = ledger.issue(501)
    ledger.reset()  # the server rejected the cursor (e.g. it restarted from zero)
    assert ledger.committed is None
    fresh = ledger.issue(3)
    stale()  # an event handed out before the gap: it must not drag the cursor to 501
    fresh()
    assert ledger.committed == 3


def test_failed_writes_are_kept_retried_and_reported() -> None:
    store, committer, errors = make()
    ledger = Ledger("line/messages", committer)
    ledger.load(None)
    ledger.issue(1)()
    store.failing = True
    assert not committer.write_once()
    assert errors and committer.last_error and "disk full" in committer.last_error
    ledger.issue(2)()
    store.failing = False
    assert committer.write_once()
    assert store.get_cursor("line/messages") == 2 and committer.last_error is None


def test_the_committer_thread_writes_soon_after_an_ack() -> None:
    store, committer, _ = make()
    stopped = threading.Event()
    thread = threading.Thread(target=committer.run_until_stopped,
                              args=(stopped, lambda: None, 0.05))
    thread.start()
    try:
        ledger = Ledger("line/messages", committer)
        ledger.load(None)
        ledger.issue(9)()
        deadline = threading.Event()
        for _ in range(200):
            if store.get_cursor("line/messages") == 9:
                break
            deadline.wait(0.01)
        assert store.get_cursor("line/messages") == 9
    finally:
        stopped.set()
        committer.wake()
        thread.join(2)


def test_a_late_ack_after_the_engine_stopped_is_still_written() -> None:
    store, committer, _ = make()
    ledger = Ledger("line/messages", committer)
    ledger.load(None)
    ack = ledger.issue(4)
    committer.closed = True
    ack()
    assert store.get_cursor("line/messages") == 4


def test_a_cursor_key_names_its_source_and_family() -> None:
    assert cursor_key("inst-1", "messages") == "inst-1/messages"
    assert cursor_source(cursor_key("inst-1", "groups")) == "inst-1"
    # A local source's key holds a path: only the last part is the family.
    path = "local:/Users/a/chat.db"
    assert cursor_source(cursor_key(path, "messages")) == path


class FencedStore(RecordingStore):
    def __init__(self) -> None:
        super().__init__()
        self.fences: list[dict[str, tuple[str, int]]] = []

    def set_cursors_fenced(self, cursors: Mapping[str, int],
                           fences: Mapping[str, tuple[str, int]]) -> bool:
        self.fences.append(dict(fences))
        self.set_cursors(cursors)
        return True


def test_a_committer_built_with_its_fence_writes_only_the_lines_held() -> None:
    store = FencedStore()
    held = {"a": ("line:a", ("me", 7))}
    committer = Committer(store, 0.0, lambda exc: None,
                          lambda key: held.get(cursor_source(key)))
    mine = Ledger(cursor_key("a", "messages"), committer)
    theirs = Ledger(cursor_key("b", "messages"), committer)
    for ledger in (mine, theirs):
        ledger.load(0)
        ledger.issue(1)()
    assert committer.write_once()
    assert [_cursors(w) for w in store.writes] == [{"a/messages": 1}]
    assert store.fences == [{"line:a": ("me", 7)}]
    assert committer.pending == 1  # the line this process does not hold waits


def _cursors(write: dict[str, int]) -> dict[str, int]:
    """The cursors of one write, without the times written beside them."""
    return {key: value for key, value in write.items() if not key.endswith("@written")}
