"""Fixtures of the client tests: the root family's ``emu`` (two dedicated lines) and
``client`` serve them as they are; a shared-plan emulator besides."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from spectrum_sync.emulator import Emulator

# The suite runs with --import-mode=importlib: make the helper module importable.
sys.path.insert(0, str(Path(__file__).parent))

from client_helpers import EmulatorFactory


@pytest.fixture
def shared_emu(make_emulator: EmulatorFactory) -> Emulator:
    """An emulator on the shared plan."""
    return make_emulator(plan="shared")
