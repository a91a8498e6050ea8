"""Helpers shared by the client tests."""

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


def calls(emulator: Emulator, method: str) -> list[Any]:
    """The recorded calls of one method."""
    return [call for call in emulator.requests if call.method == method]


def message_count(emulator: Emulator, chat_guid: str) -> int:
    """How many messages the emulator holds in a chat (over all lines)."""
    total = 0
    for line in emulator.state()["lines"]:
        for chat in line["chats"]:
            if chat["guid"] == chat_guid:
                total += chat["messages"]
    return total
