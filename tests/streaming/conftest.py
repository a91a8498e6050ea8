"""Fixtures of the streaming, markdown and link-preview tests: a dedicated emulator and a DM."""

from __future__ import annotations

import pytest
from support.factories import ALICE, ClientFactory, EmulatorFactory

from spectrum_sync import Client, Space
from spectrum_sync.emulator import Emulator

LINE = "+15550000001"


@pytest.fixture
def emu(make_emulator: EmulatorFactory) -> Emulator:
    return make_emulator(plan="dedicated", lines=[LINE])


@pytest.fixture
def client(emu: Emulator, make_client: ClientFactory) -> Client:
    return make_client(emu)


@pytest.fixture
def dm(client: Client) -> Space:
    """A DM with Alice."""
    return client.space.create(ALICE, phone=LINE)
