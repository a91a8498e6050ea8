"""Fixtures shared by every test folder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from spectrum_sync import Client
from spectrum_sync.emulator import Emulator

# The suite runs with --import-mode=importlib: make ``support`` importable everywhere.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for localhost / 127.0.0.1: (cert PEM path, key PEM path)."""
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture
def make_emulator() -> Iterator[Any]:
    """``make_emulator(**kwargs)`` starts an emulator stopped at teardown."""
    with ExitStack() as stack:

        def make(**kwargs: Any) -> Emulator:
            kwargs.setdefault("heartbeat_interval", 1.0)
            return stack.enter_context(Emulator(**kwargs))

        yield make


@pytest.fixture
def make_client() -> Iterator[Any]:
    """``make_client(emulator, **kwargs)`` (or ``make_client(None, **kwargs)`` for a
    plain ``Client(**kwargs)``); every client is closed at teardown."""
    clients: list[Client] = []

    def make(emulator: Emulator | None, **kwargs: Any) -> Client:
        client = Client(**kwargs) if emulator is None else emulator.client(**kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
