"""Fixtures shared by every test folder."""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from spectrum_sync import Client
from spectrum_sync.emulator import Emulator

# The suite runs with --import-mode=importlib: make ``support`` importable everywhere.
sys.path.insert(0, str(Path(__file__).parent))


_CERTIFICATE: list[tuple[str, str]] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    """Make the test certificate before any test runs gRPC: on Python 3.9 (fork, not vfork,
    under subprocess) grpcio's fork handlers can abort a child started while gRPC threads
    run, so openssl is started while none do."""
    folder = Path(tempfile.mkdtemp(prefix="spectrum-tls-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    _CERTIFICATE.append((str(cert), str(key)))
    atexit.register(shutil.rmtree, folder, True)


@pytest.fixture(scope="session")
def certificate() -> tuple[str, str]:
    """A self-signed certificate for localhost / 127.0.0.1: (cert PEM path, key PEM path)."""
    return _CERTIFICATE[0]


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
