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

from support.factories import LINE_1, LINE_2, ClientFactory, EmulatorFactory

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


# -- the emulator and client fixture family -------------------------------------------------
# Every test emulator and client is built here, with one cleanup path: ``make_client`` depends
# on ``make_emulator``, so clients are closed before the emulators they talk to are stopped.
# A folder (or a test file) chooses its emulator by overriding ``emulator_options`` and its
# client by overriding ``client_options``; tests that need several emulators or clients, or
# other options for one test, call the factories. tests/test_fixtures.py keeps it that way.


@pytest.fixture
def make_emulator() -> Iterator[EmulatorFactory]:
    """``make_emulator(**kwargs)`` starts an emulator stopped at teardown (a 1 s heartbeat
    unless ``heartbeat_interval`` is given)."""
    with ExitStack() as stack:

        def make(**kwargs: Any) -> Emulator:
            kwargs.setdefault("heartbeat_interval", 1.0)
            return stack.enter_context(Emulator(**kwargs))

        yield make


@pytest.fixture
def make_client(make_emulator: EmulatorFactory) -> Iterator[ClientFactory]:
    """``make_client(emulator, **kwargs)`` (or ``make_client(None, **kwargs)`` for a
    plain ``Client(**kwargs)``); every client is closed at teardown, before the emulators."""
    clients: list[Client] = []

    def make(emulator: Emulator | None, **kwargs: Any) -> Client:
        client = Client(**kwargs) if emulator is None else emulator.client(**kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """The keywords of the ``emu`` fixture's emulator (override it in a folder or file)."""
    return {"plan": "dedicated", "lines": [LINE_1, LINE_2]}


@pytest.fixture
def emu(make_emulator: EmulatorFactory, emulator_options: dict[str, Any]) -> Emulator:
    """A started emulator made from ``emulator_options``."""
    return make_emulator(**emulator_options)


@pytest.fixture
def make_emu(make_emulator: EmulatorFactory,
             emulator_options: dict[str, Any]) -> EmulatorFactory:
    """``make_emulator`` with the defaults of ``emulator_options`` (the lines are left out on
    the shared plan unless given), for tests that need several emulators or other options."""

    def make(**kwargs: Any) -> Emulator:
        defaults = dict(emulator_options)
        if kwargs.get("plan", defaults["plan"]) != "dedicated":
            defaults.pop("lines", None)
        return make_emulator(**{**defaults, **kwargs})

    return make


@pytest.fixture
def client_options() -> dict[str, Any]:
    """The keywords of the ``client`` fixture's client (override it in a folder or file)."""
    return {}


@pytest.fixture
def client(emu: Emulator, make_client: ClientFactory, client_options: dict[str, Any]) -> Client:
    """A client of ``emu`` made from ``client_options``."""
    return make_client(emu, **client_options)
