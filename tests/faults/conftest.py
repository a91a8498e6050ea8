"""Fixtures for fault tests: an in-process emulator, and one in its own process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.emulator_process import EmulatorProcess
from support.receiving import LINE, LINE_2

from spectrum_sync.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(plan="dedicated", lines=[LINE, LINE_2], heartbeat_interval=0.5) as e:
        yield e


@pytest.fixture
def emu_process() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as proc:
        yield proc
