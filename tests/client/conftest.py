"""Fixtures: emulators and clients that are always torn down."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from spectrum_sync import Client
from spectrum_sync.emulator import Emulator

# The suite runs with --import-mode=importlib: make the helper module importable.
sys.path.insert(0, str(Path(__file__).parent))

from client_helpers import LINE_1, LINE_2, ClientFactory, EmulatorFactory


@pytest.fixture
def emu(make_emulator: EmulatorFactory) -> Emulator:
    """A dedicated emulator with two lines."""
    return make_emulator(plan="dedicated", lines=[LINE_1, LINE_2])


@pytest.fixture
def shared_emu(make_emulator: EmulatorFactory) -> Emulator:
    return make_emulator(plan="shared")


@pytest.fixture
def client(emu: Emulator, make_client: ClientFactory) -> Client:
    return make_client(emu)
