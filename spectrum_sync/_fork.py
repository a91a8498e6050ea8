"""The one fork mechanism: every per-process resource checks the pid on use.

gRPC channels, threads, locks held by other threads and SQLite connections must not cross
``fork()``. Each object that owns such a resource keeps a :class:`ForkGuard` made with its one
reset (abandon the parent's resources without touching them; rebuild lazily) and calls
``check()`` at each of its entry points. In a forked child the first check, whichever entry
point it is, runs the reset; so no entry point can miss the fork because another saw it first.

No ``os.register_at_fork`` hook is needed: uWSGI forks its workers without running Python's
fork hooks (unless ``--py-call-osafterfork``), so the pid check is the mechanism that must
always work. ``os.getpid()`` costs well under a microsecond.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Callable

__all__ = ["ForkGuard", "ProcessLock", "background_thread", "in_uwsgi_master"]


def in_uwsgi_master() -> bool:
    """Whether this is a uWSGI master loading the app before it forks its workers.

    It forks from C, and each worker first takes the GIL back: a thread of ours that holds
    the GIL at that moment would leave the worker waiting for it forever. So no background
    thread is started here (docs/behaviour.md, "Lifecycle and fork")."""
    uwsgi = sys.modules.get("uwsgi")  # present only inside uWSGI
    if uwsgi is None:
        return False
    try:
        return bool(uwsgi.worker_id() == 0 and uwsgi.masterpid() == os.getpid())
    except Exception:  # an unexpected module of that name
        return False


def background_thread(target: Callable[..., object], name: str,
                      *args: object) -> threading.Thread | None:
    """Start a daemon thread running ``target(*args)``: the one way this package starts a
    thread of its own accord (the token refresher, the store's worker threads, closing a
    client the garbage collector found unclosed, refreshing ``space.responding()``'s typing
    indicator). Returns None, starting nothing, in a
    uWSGI master (:func:`in_uwsgi_master`): the caller then does the work itself, on the
    calling thread, or when it is next due."""
    if in_uwsgi_master():
        return None
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


class ForkGuard:
    """Remembers the pid it was made in; :meth:`check` runs ``on_fork`` once in a process
    other than that one (a forked child), before the caller goes on."""

    __slots__ = ("_on_fork", "_pid")

    def __init__(self, on_fork: Callable[[], None]) -> None:
        self._pid = os.getpid()
        self._on_fork = on_fork

    def check(self) -> None:
        """Run the reset if this is a forked child that has not run it yet."""
        pid = os.getpid()
        if pid != self._pid:
            self._pid = pid
            self._on_fork()


class ProcessLock:
    """A lock that belongs to one process: a forked child gets a new one on first use (the
    parent's may be held by a thread that fork did not copy, and would never be released)."""

    __slots__ = ("_fork", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fork = ForkGuard(self._renew)

    def _renew(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> bool:
        self._fork.check()
        return self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()
