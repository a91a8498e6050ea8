"""Fixtures of the streaming, markdown and link-preview tests: a dedicated emulator and a DM."""

from __future__ import annotations

from typing import Any

import pytest
from support.factories import ALICE

from spectrum_sync import Client, Space

LINE = "+15550000001"


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """One dedicated line."""
    return {"plan": "dedicated", "lines": [LINE]}


@pytest.fixture
def dm(client: Client) -> Space:
    """A DM with Alice."""
    return client.space.create(ALICE, phone=LINE)
