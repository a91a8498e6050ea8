"""Soak of receivers sharing lines on Redis (not in the default run:
``python -m pytest -m soak tests/soak/test_lease_soak.py``): three receiving processes on
three lines while, in turn, Redis is paused past the lease, Redis restarts without its data,
a receiver is frozen (SIGSTOP) past its lease, and a receiver is SIGKILLed (and replaced).

Every message must be handled (lost 0), never by two receivers at once, and duplicates stay
within docs/behaviour.md's bound ("Several receivers"): per fault and line it touched, what
was acknowledged within one commit interval before it, plus the handler running then.

``SPECTRUM_LEASE_SOAK_SECONDS`` sets the length of the run (default 600)."""

from __future__ import annotations

import math
import os
import random
import signal
import time
from pathlib import Path

import pytest
from support.emulator_process import EmulatorProcess
from support.fleet import Fleet, pause
from support.receiving import wait_until
from support.redis_server import RedisServer

pytestmark = [pytest.mark.soak, pytest.mark.timeout(3600)]

LINES = ("+15550000001", "+15550000002", "+15550000003")
TTL = 2.0
GAP = 0.03  # seconds between two inbound messages (over the three lines)
COMMIT_INTERVAL = 0.05  # ReceiveOptions' default
# A lease TTL several times the store's call timeout, as in production (10 s and 2 s): a
# round of lease calls fits in the time a lease lasts even when every call times out.
STORE_OPTIONS = "?timeout=0.4"
WORK = 0.005  # seconds each handler takes (the fleet's default)


def test_lease_soak(tmp_path: Path) -> None:
    duration = float(os.environ.get("SPECTRUM_LEASE_SOAK_SECONDS", "600"))
    rng = random.Random(21)
    faults: dict[str, int] = {"redis paused": 0, "redis restarted empty": 0,
                              "receiver frozen": 0, "receiver killed": 0}
    touched = 0  # line-faults: each fault times the lines it disturbed
    with EmulatorProcess(lines=",".join(LINES), heartbeat=0.5) as emu, \
            RedisServer() as redis, \
            Fleet(emu, redis.url + STORE_OPTIONS, tmp_path, 3, ttl=TTL) as fleet:
        project = emu.env["SPECTRUM_PROJECT_ID"]
        assert wait_until(lambda: None not in fleet.holders(project, redis.url).values(), 30)
        fleet.warm_up(LINES)
        fleet.inject(LINES, gap=GAP)
        end = time.monotonic() + duration
        kinds = list(faults)
        turn = 0
        while time.monotonic() < end:
            # Faults one at a time: each is over (commits written) before the next.
            time.sleep(rng.uniform(TTL + 1.0, TTL + 4.0))
            kind = kinds[turn % len(kinds)]
            turn += 1
            assert redis.process is not None
            if kind == "redis paused":
                pause(redis.process.pid, rng.uniform(1.5, 2.5) * TTL)
                touched += len(LINES)
            elif kind == "redis restarted empty":
                redis.kill()
                time.sleep(rng.uniform(0.1, 1.0))
                redis.start()
                touched += len(LINES)
            else:
                holders = fleet.holders(project, redis.url)
                pids = sorted({int(h.split(":")[1]) for h in holders.values() if h})
                live = [p for p in fleet.procs if p.poll() is None and p.pid in pids]
                if not live:
                    continue  # leases still settling after a Redis fault: next turn
                victim = rng.choice(live)
                touched += sum(1 for h in holders.values()
                               if h and int(h.split(":")[1]) == victim.pid)
                if kind == "receiver frozen":
                    fleet.freeze(victim, rng.uniform(1.5, 2.5) * TTL)
                else:
                    victim.send_signal(signal.SIGKILL)
                    victim.wait(10)
                    fleet.spawn()  # three receivers again
            faults[kind] += 1
        fleet.stop_injecting()
        verdict = fleet.settle(within=180)
    # A consumer acknowledges at most one event per handler's work: that many within one
    # commit interval, and the one being handled.
    per_fault = math.ceil(COMMIT_INTERVAL / WORK) + 1
    bound = touched * per_fault
    print(f"\nlease soak, {duration:.0f} s: {verdict}; faults {faults}; "
          f"duplicate bound {bound} ({touched} line-faults x {per_fault})")
    assert verdict.lost == 0, verdict
    assert verdict.at_once == 0, verdict
    assert verdict.duplicates <= bound, (verdict, bound)
