"""Fixtures of the rich-messaging tests: emulators and clients that are always torn down."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from spectrum_sync import Client, Space

# The suite runs with --import-mode=importlib: make the helper module importable.
sys.path.insert(0, str(Path(__file__).parent))

from rich_helpers import ALICE, LINE_1


@pytest.fixture
def dm(client: Client) -> Space:
    """A DM with Alice on line 1."""
    return client.space.create(ALICE, phone=LINE_1)
