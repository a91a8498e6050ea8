"""Fixtures of the command-line tests: an emulator, the environment pointing at it, and
``spectrum-sync`` processes that never outlive a test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from spectrum_sync.emulator import Emulator

# The suite runs with --import-mode=importlib: make the helper module importable.
sys.path.insert(0, str(Path(__file__).parent))

from cli_helpers import LINES, CliProcess, base_env


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """A dedicated emulator with two lines."""
    return {"plan": "dedicated", "lines": LINES, "heartbeat_interval": 1.0}


@pytest.fixture
def env(emu: Emulator) -> dict[str, str]:
    """The environment of a user who pointed the client at ``emu``."""
    return base_env(emu.env())


@pytest.fixture
def start_cli() -> Iterator[Callable[..., CliProcess]]:
    """``start_cli(*args, env=...)`` runs spectrum-sync in the background (killed at the
    end of the test)."""
    started: list[CliProcess] = []

    def start(*args: str, env: dict[str, str]) -> CliProcess:
        proc = CliProcess(*args, env=env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
