"""Helpers shared by the rich-messaging tests."""

from __future__ import annotations

from typing import Any, Callable

from spectrum_sync import Client
from spectrum_sync.emulator import Emulator

EmulatorFactory = Callable[..., Emulator]
ClientFactory = Callable[..., Client]

LINE_1 = "+15550000001"
LINE_2 = "+15550000002"
ALICE = "+15551111111"
BOB = "+15552222222"
CAROL = "+15553333333"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def calls(emulator: Emulator, method: str) -> list[Any]:
    """The recorded requests of one method, oldest first."""
    return [call.request for call in emulator.requests if call.method == method]


def methods(emulator: Emulator) -> list[str]:
    """The methods the emulator received, in order."""
    return [call.method for call in emulator.requests]
