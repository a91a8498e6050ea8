"""Shared fixtures for the emulator's gRPC tests: started emulators, stubs, stream readers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from emu_helpers import LINE_A, LINE_B, T0, Api, StreamReader

from spectrum_sync.emulator import Emulator


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """The ``emu`` of these tests: lines LINE_A and LINE_B, fast heartbeats, a clock frozen
    at ``T0``."""
    return {"plan": "dedicated", "lines": [LINE_A, LINE_B], "heartbeat_interval": 0.2,
            "clock": T0}


@pytest.fixture
def make_api() -> Iterator[Callable[..., Api]]:
    """Factory for :class:`Api` objects (channels closed at teardown)."""
    made: list[Api] = []

    def make(emu: Emulator, line: str | None = None, token: str | None = None) -> Api:
        api = Api(emu, line, token)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def api(emu: Emulator, make_api: Callable[..., Api]) -> Api:
    """Stubs for LINE_A of ``emu``."""
    return make_api(emu, LINE_A)


@pytest.fixture
def read_stream() -> Iterator[Callable[[Any], StreamReader]]:
    """Start a :class:`StreamReader` on a stream call (cancelled at teardown)."""
    readers: list[StreamReader] = []

    def start(call: Any) -> StreamReader:
        reader = StreamReader(call)
        readers.append(reader)
        return reader

    yield start
    for reader in readers:
        reader.close()
