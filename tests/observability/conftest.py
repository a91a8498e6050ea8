"""Fixtures of the observability tests: the root family's ``emu`` with one dedicated line."""

from __future__ import annotations

from typing import Any

import pytest
from support.factories import LINE_1


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """One dedicated line, heartbeats every second."""
    return {"plan": "dedicated", "lines": [LINE_1], "heartbeat_interval": 1.0}
