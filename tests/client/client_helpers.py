"""Helpers shared by the client tests."""

from __future__ import annotations

from typing import Any

from support.factories import ALICE, BOB, LINE_1, LINE_2, ClientFactory, EmulatorFactory

from spectrum_sync.emulator import Emulator

__all__ = ["ALICE", "BOB", "LINE_1", "LINE_2", "ClientFactory", "EmulatorFactory"]



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
