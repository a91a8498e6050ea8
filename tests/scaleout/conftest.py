"""Fixtures for the scale-out tests: a real redis-server and an emulator in its own process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.emulator_process import EmulatorProcess
from support.redis_server import RedisServer


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer(appendonly=True) as server:
        yield server


@pytest.fixture
def emu_process() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(heartbeat=0.5) as proc:
        yield proc
