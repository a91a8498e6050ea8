"""Fixtures for fault tests: an in-process emulator, and one in its own process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.emulator_process import EmulatorProcess
from support.receiving import LINE, LINE_2


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """Two dedicated lines, heartbeats every 0.5 s."""
    return {"plan": "dedicated", "lines": [LINE, LINE_2], "heartbeat_interval": 0.5}


@pytest.fixture
def emu_process() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as proc:
        yield proc
