"""Names shared by the tests that make emulators and clients through the root fixtures
``make_emulator`` and ``make_client`` (tests/conftest.py)."""

from __future__ import annotations

from typing import Callable

from spectrum_sync import Client
from spectrum_sync.emulator import Emulator

__all__ = ["ALICE", "BOB", "LINE_1", "LINE_2", "ClientFactory", "EmulatorFactory"]

EmulatorFactory = Callable[..., Emulator]
ClientFactory = Callable[..., Client]

LINE_1 = "+15550000001"
LINE_2 = "+15550000002"
ALICE = "+15551111111"
BOB = "+15552222222"
