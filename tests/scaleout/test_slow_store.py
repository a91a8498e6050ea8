"""A state store that does not answer never holds a send past its deadline
(docs/behaviour.md, "State store failures"): real redis-server, paused with SIGSTOP."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from support.emulator_process import EmulatorProcess
from support.receiving import ALICE, LINE, wait_until
from support.redis_server import RedisServer

import spectrum_sync as spectrum

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def paused() -> Iterator[list[int]]:
    """Pids to SIGCONT at teardown, whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        os.kill(pid, signal.SIGCONT)


def test_a_paused_redis_does_not_hold_a_send_past_its_deadline(
    emu_process: EmulatorProcess, redis_server: RedisServer, paused: list[int]
) -> None:
    with spectrum.Client(env=emu_process.env, state=redis_server.url) as client:
        space = client.space.get(f"any;-;{ALICE}", phone=LINE)
        space.send("before")
        assert client.quota(LINE).messages == 1
        assert redis_server.process is not None
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        paused.append(redis_server.process.pid)

        started = time.monotonic()
        assert space.send("while Redis is paused", timeout=1).text
        first = time.monotonic() - started
        # Redis answers nothing for as long as it is paused: the bookkeeping gave up when
        # the send's second was spent (before: two store timeouts of 2 s each, 4 s).
        assert first < 1.8, first
        assert "quota" in (client.health()[LINE].store_error or "")

        # The store is skipped for a while now: the next sends do not wait for it at all.
        started = time.monotonic()
        for n in range(3):
            assert space.send(f"skipping the store {n}", timeout=1).text
        assert time.monotonic() - started < 1.8

        os.kill(redis_server.process.pid, signal.SIGCONT)
        paused.clear()
        # Once its back-off has passed, one send probes the store and counting resumes.
        def probe() -> bool:
            space.send("after", timeout=5)
            time.sleep(0.2)
            return client.health()[LINE].store_error is None

        assert wait_until(probe, 20)
        assert client.quota(LINE).messages >= 2
