"""Receivers sharing lines on Redis under faults (docs/behaviour.md, "Several receivers"):
a lease holder frozen past its lease, Redis stalled past the lease, Redis restarted without
its data. Real receiving processes, a real redis-server, SIGSTOP and SIGKILL."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.emulator_process import EmulatorProcess
from support.fleet import Fleet, pause
from support.receiving import LINE, LINE_2, wait_until
from support.redis_server import RedisServer

pytestmark = pytest.mark.timeout(240)

TTL = 1.5
#: Duplicates allowed after a freeze or a stall: what was acknowledged within one commit
#: interval (50 ms) before it, and the handler running at that moment.
BOUND = 5
#: The same for a frozen holder with handlers slower than the traffic (work 30 ms): on a quiet
#: machine 2 or so, but on a loaded 2-core CI run (three receiving processes, Redis and the
#: emulator besides the suite) 19-28 were seen: the holder's committer thread is starved, so
#: more handled events wait for their commit when the freeze comes. Lost events and events
#: handled by two receivers at once stay 0 whatever the load; this counts only re-deliveries.
FROZEN_BOUND = 40


@pytest.fixture
def bare_redis() -> Iterator[RedisServer]:
    """No persistence: a restart loses every key."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def one_line() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(lines=LINE, heartbeat=0.5) as proc:
        yield proc


def test_a_frozen_holder_hands_out_nothing_it_read_before_when_it_wakes(
    one_line: EmulatorProcess, bare_redis: RedisServer, tmp_path: Path
) -> None:
    # Handlers slower than the traffic: the holder has a queue of events when it is frozen.
    with Fleet(one_line, bare_redis.url, tmp_path, 2, ttl=TTL, work=0.03) as fleet:
        assert wait_until(lambda: fleet.holder_pid(LINE, bare_redis.url) is not None, 20)
        fleet.warm_up((LINE,))
        fleet.inject((LINE,), gap=0.02)
        time.sleep(2.0)
        holder = fleet.holder_pid(LINE, bare_redis.url)
        assert holder is not None and bare_redis.process is not None
        frozen = fleet.by_pid(holder)
        fleet.frozen.append((str(holder), time.time()))
        os.kill(holder, signal.SIGSTOP)
        # The other receiver takes the line over meanwhile (the lease lapses after TTL).
        assert wait_until(lambda: fleet.holder_pid(LINE, bare_redis.url) not in (None, holder),
                          20), "nobody took the frozen holder's line over"
        # It wakes while Redis is slow to answer: whatever it learns from Redis comes late,
        # and only its own clock can tell it that its lease is gone.
        os.kill(bare_redis.process.pid, signal.SIGSTOP)
        try:
            os.kill(frozen.pid, signal.SIGCONT)
            time.sleep(1.0)
        finally:
            os.kill(bare_redis.process.pid, signal.SIGCONT)
        time.sleep(3.0)
        fleet.stop_injecting()
        verdict = fleet.settle()
    print(f"\n{verdict}")
    assert verdict.lost == 0, verdict
    assert verdict.at_once == 0, verdict
    assert verdict.duplicates <= FROZEN_BOUND, verdict


def test_a_redis_stall_past_the_lease_does_not_redeliver_what_was_handled(
    emu_process: EmulatorProcess, bare_redis: RedisServer, tmp_path: Path
) -> None:
    with Fleet(emu_process, bare_redis.url, tmp_path, 2, ttl=TTL) as fleet:
        assert wait_until(lambda: None not in fleet.holders(
            emu_process.env["SPECTRUM_PROJECT_ID"], bare_redis.url).values(), 20)
        fleet.warm_up((LINE, LINE_2))
        fleet.inject((LINE, LINE_2), gap=0.01)
        time.sleep(2.0)
        assert bare_redis.process is not None
        pause(bare_redis.process.pid, 4.0)
        time.sleep(4.0)
        fleet.stop_injecting()
        verdict = fleet.settle()
    print(f"\n{verdict}")
    assert verdict.lost == 0, verdict
    assert verdict.at_once == 0, verdict
    assert verdict.duplicates <= BOUND, verdict


def test_a_redis_restart_without_data_loses_nothing_of_a_receiver_that_went_on(
    emu_process: EmulatorProcess, bare_redis: RedisServer, tmp_path: Path
) -> None:
    with Fleet(emu_process, bare_redis.url, tmp_path, 1, ttl=TTL) as fleet:
        assert wait_until(lambda: None not in fleet.holders(
            emu_process.env["SPECTRUM_PROJECT_ID"], bare_redis.url).values(), 20)
        fleet.warm_up((LINE, LINE_2))
        fleet.inject((LINE, LINE_2), gap=0.01)
        time.sleep(2.0)
        bare_redis.kill()
        time.sleep(0.5)
        bare_redis.start()  # empty: cursors, leases and fencing counters are gone
        time.sleep(4.0)
        fleet.stop_injecting()
        verdict = fleet.settle()
        logs = fleet.logs()
    print(f"\n{verdict}")
    assert verdict.lost == 0, verdict
    assert verdict.duplicates <= BOUND, verdict
    assert "has it" not in logs  # nobody else had it: no such claim in the log
