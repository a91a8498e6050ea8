"""CatchUpRounds: the readers of a line share their catch-ups; a client runs at most
``max_in_flight`` at once and queues the rest (no network)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest

from spectrum_sync._errors import ClientClosed
from spectrum_sync._receive.heads import HEAD, REPLAY, CatchUpRounds


def _together(rounds: CatchUpRounds[str], line: str, names: list[str], kind: str,
              run: Callable[[list[str]], Any],
              stopped: dict[str, threading.Event] | None = None) -> dict[str, Any]:
    """Each name asks for a round of ``kind`` from its own thread; name -> result or error."""
    results: dict[str, Any] = {}
    lock = threading.Lock()

    def ask(name: str) -> None:
        event = (stopped or {}).get(name) or threading.Event()
        try:
            got: Any = rounds.share(line, kind, name, run, event)
        except Exception as exc:
            got = exc
        with lock:
            results[name] = got

    threads = [threading.Thread(target=ask, args=(name,)) for name in names]
    for i, thread in enumerate(threads):
        thread.start()
        time.sleep(0.02 * (i % 2))  # not quite at once, as reader threads start
    for thread in threads:
        thread.join(10)
    return results


def test_readers_created_together_share_one_catch_up() -> None:
    rounds: CatchUpRounds[str] = CatchUpRounds()
    families = ["messages", "groups", "polls"]
    rounds.expect("line", families)
    calls: list[list[str]] = []

    def run(members: list[str]) -> int:
        calls.append(sorted(members))
        return 42

    assert _together(rounds, "line", families, HEAD, run) == dict.fromkeys(families, 42)
    assert calls == [sorted(families)]


def test_a_leader_does_not_wait_for_readers_going_elsewhere() -> None:
    rounds: CatchUpRounds[str] = CatchUpRounds(gather=5.0)
    rounds.expect("line", ["messages", "polls"])
    rounds.phase("line", "polls", "idle")  # live already: not on its way
    started = time.monotonic()
    assert _together(rounds, "line", ["messages"], REPLAY, lambda m: len(m)) == {"messages": 1}
    assert time.monotonic() - started < 2.0


def test_a_late_reader_gets_the_next_round() -> None:
    rounds: CatchUpRounds[str] = CatchUpRounds(gather=0.1)
    rounds.expect("line", ["messages", "polls"])
    runs: list[list[str]] = []
    first = _together(rounds, "line", ["messages"], REPLAY,
                      lambda m: runs.append(list(m)) or len(runs))
    second = _together(rounds, "line", ["polls"], REPLAY,
                       lambda m: runs.append(list(m)) or len(runs))
    assert (first, second) == ({"messages": 1}, {"polls": 2})
    assert runs == [["messages"], ["polls"]]


def test_at_most_max_in_flight_run_at_once() -> None:
    rounds: CatchUpRounds[str] = CatchUpRounds(max_in_flight=2)
    busy, peak = 0, 0
    lock = threading.Lock()

    def run(members: list[str]) -> int:
        nonlocal busy, peak
        with lock:
            busy += 1
            peak = max(peak, busy)
        time.sleep(0.05)
        with lock:
            busy -= 1
        return 1

    threads = [threading.Thread(target=rounds.share,
                                args=(f"line{i}", HEAD, f"r{i}", run, threading.Event()))
               for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert peak == 2


def test_members_try_again_when_their_leader_stops() -> None:
    rounds: CatchUpRounds[str] = CatchUpRounds(gather=1.0)
    rounds.expect("line", ["leader", "member"])
    leader_stopped = threading.Event()
    runs: list[list[str]] = []

    def run(members: list[str]) -> int:
        runs.append(list(members))
        if len(runs) == 1:
            leader_stopped.set()
            raise ClientClosed("stopped")
        return 7

    results = _together(rounds, "line", ["leader", "member"], REPLAY, run,
                        stopped={"leader": leader_stopped})
    assert isinstance(results["leader"], ClientClosed)
    assert results["member"] == 7
    assert runs[-1] == ["member"]


def test_an_error_reaches_every_member() -> None:
    rounds: CatchUpRounds[str] = CatchUpRounds()
    rounds.expect("line", ["a", "b"])

    def run(members: list[str]) -> int:
        raise ValueError("broken replay")

    results = _together(rounds, "line", ["a", "b"], REPLAY, run)
    assert all(isinstance(r, ValueError) for r in results.values())


def test_waiting_for_a_slot_ends_when_stopped() -> None:
    rounds: CatchUpRounds[str] = CatchUpRounds(max_in_flight=1)
    stopped = threading.Event()
    with rounds.slot(stopped):
        stopped.set()
        with pytest.raises(ClientClosed), rounds.slot(stopped):
            pass
