"""Helpers shared by the rich-messaging tests."""

from __future__ import annotations

from typing import Any

from support.factories import ALICE, BOB, LINE_1, LINE_2, ClientFactory, EmulatorFactory

from spectrum_sync.emulator import Emulator

__all__ = ["ALICE", "BOB", "LINE_1", "LINE_2", "ClientFactory", "EmulatorFactory"]

CAROL = "+15553333333"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def calls(emulator: Emulator, method: str) -> list[Any]:
    """The recorded requests of one method, oldest first."""
    return [call.request for call in emulator.requests if call.method == method]


def methods(emulator: Emulator) -> list[str]:
    """The methods the emulator received, in order."""
    return [call.method for call in emulator.requests]
