"""Fixtures of the state store tests: a real redis-server for the session, a fresh
namespace per test (so tests share the server without seeing each other's keys), and the
three stores side by side."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Callable

import pytest
from support.redis_server import RedisServer

from spectrum_sync._state.base import StateStore
from spectrum_sync._state.memory import MemoryStore
from spectrum_sync._state.redis import RedisStore
from spectrum_sync._state.sqlite import SQLiteStore

WORKER = Path(__file__).with_name("_worker.py")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_store(redis_server: RedisServer, namespace: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_server.url, namespace=namespace)
    yield store
    store.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """Each store in turn: the protocol behaves the same in all three."""
    store: StateStore
    if request.param == "memory":
        store = MemoryStore()
    elif request.param == "sqlite":
        store = SQLiteStore(tmp_path / "state.db")
    else:
        store = request.getfixturevalue("redis_store")
    yield store
    store.close()


Workers = Callable[[Sequence[Sequence[str]]], list[Any]]


@pytest.fixture
def run_workers() -> Workers:
    """Runs ``_worker.py`` processes: see :func:`_run_workers`."""
    return _run_workers


def _run_workers(jobs: Sequence[Sequence[str]], timeout: float = 60) -> list[Any]:
    """Start one ``_worker.py`` process per job, release them together once all are
    ready, and return their JSON results in order."""
    procs = [subprocess.Popen([sys.executable, str(WORKER), *job], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for job in jobs]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready":
                _, err = proc.communicate(timeout=timeout)
                raise AssertionError(f"worker failed to start: {line}{err}")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
