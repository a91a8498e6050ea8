"""Fixtures for the integration tests: emulators and real servers (gunicorn, uWSGI, Celery,
Redis) in their own process groups, always stopped."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from integ_helpers import APPS, LINES
from support.servers import Server, free_port


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """Two dedicated lines and the emulator's own heartbeat."""
    return {"plan": "dedicated", "lines": LINES, "heartbeat_interval": 30.0}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start a server command (stopped with its whole process group at teardown, whatever
    happens)."""
    servers: list[Server] = []

    def start(argv: Sequence[str], *, env: dict[str, str], port: int | None = None,
              url: str | None = None, cwd: Path = APPS, timeout: float = 30.0) -> Server:
        server = Server(argv, env=env, cwd=cwd,
                        log_path=tmp_path / f"server-{len(servers)}.log")
        servers.append(server)
        if port is not None or url is not None:
            server.wait_ready(port=port, url=url, timeout=timeout)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def port() -> int:
    return free_port()
