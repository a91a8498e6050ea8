"""Fixtures of the rich-messaging tests: emulators and clients that are always torn down."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from spectrum_sync import Client, Space
from spectrum_sync.emulator import Emulator

# The suite runs with --import-mode=importlib: make the helper module importable.
sys.path.insert(0, str(Path(__file__).parent))

from rich_helpers import ALICE, LINE_1, LINE_2, ClientFactory, EmulatorFactory


@pytest.fixture
def make_emulator() -> Iterator[EmulatorFactory]:
    """``make_emulator(**kwargs)`` starts an emulator stopped at teardown."""
    with ExitStack() as stack:

        def make(**kwargs: Any) -> Emulator:
            kwargs.setdefault("heartbeat_interval", 1.0)
            return stack.enter_context(Emulator(**kwargs))

        yield make


@pytest.fixture
def emu(make_emulator: EmulatorFactory) -> Emulator:
    """A dedicated emulator with two lines."""
    return make_emulator(plan="dedicated", lines=[LINE_1, LINE_2])


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    """``make_client(emulator, **kwargs)``; every client is closed at teardown."""
    clients: list[Client] = []

    def make(emulator: Emulator, **kwargs: Any) -> Client:
        client = emulator.client(**kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(emu: Emulator, make_client: ClientFactory) -> Client:
    return make_client(emu)


@pytest.fixture
def dm(client: Client) -> Space:
    """A DM with Alice on line 1."""
    return client.space.create(ALICE, phone=LINE_1)
