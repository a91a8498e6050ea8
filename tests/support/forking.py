"""Forking a real child in a test: run a check there, hear its answer, never hang; and the
threads a test may look for around forks (a pretend uWSGI master, threads by name)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import types
from collections.abc import Iterator
from typing import Callable

import pytest


def in_child(check: Callable[[], str], *, meanwhile: Callable[[], object] | None = None,
             seconds: int = 10) -> str:
    """Fork; the child runs ``check`` and its answer (or why it failed) comes back, while the
    parent runs ``meanwhile``. A child that hangs is ended by an alarm after ``seconds``."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: must never return into pytest
        status = 1
        try:
            os.close(read)
            signal.alarm(seconds)
            try:
                os.write(write, check().encode()[:500])
                status = 0
            except BaseException as exc:  # told to the parent's assertion
                os.write(write, f"the child failed: {exc!r}".encode()[:500])
        finally:
            os._exit(status)
    os.close(write)
    try:
        if meanwhile is not None:
            meanwhile()
    finally:
        _, status = os.waitpid(pid, 0)
        said = os.read(read, 600).decode()
        os.close(read)
    if os.WIFSIGNALED(status):
        return f"the child hung and was ended by signal {os.WTERMSIG(status)}"
    return said


@contextlib.contextmanager
def held_by_another_thread(lock: contextlib.AbstractContextManager[object]) -> Iterator[None]:
    """``lock`` held by another thread for the block: a fork inside it copies a held lock
    whose holder does not exist in the child."""
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def pretend_uwsgi(monkeypatch: pytest.MonkeyPatch, worker: list[int]) -> list[str]:
    """Make this process look like uWSGI's: its master while ``worker[0]`` is 0, a worker
    once the test sets it to another number. Returns the names of the threads started from
    now on (the test's own included), to check which ones the library started."""
    monkeypatch.setitem(sys.modules, "uwsgi", types.SimpleNamespace(
        worker_id=lambda: worker[0], masterpid=os.getpid))
    started: list[str] = []
    start = threading.Thread.start

    def noting(thread: threading.Thread) -> None:
        started.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", noting)
    return started


def threads_named(name: str) -> list[threading.Thread]:
    """The live threads called ``name`` (the library names each kind it starts)."""
    return [t for t in threading.enumerate() if t.name == name]
