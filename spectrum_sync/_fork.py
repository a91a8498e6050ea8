"""The one fork mechanism: every per-process resource checks the pid on use.

gRPC channels, threads, locks held by other threads and SQLite connections must not cross
``fork()``. Each object that owns such a resource keeps a :class:`ForkGuard` and calls
``forked()`` at its entry points; in a forked child the first call returns True once, and the
owner abandons the parent's resources (without touching them) and rebuilds lazily.

No ``os.register_at_fork`` hook is needed: uWSGI forks its workers without running Python's
fork hooks (unless ``--py-call-osafterfork``), so the pid check is the mechanism that must
always work. ``os.getpid()`` costs well under a microsecond.
"""

from __future__ import annotations

import os

__all__ = ["ForkGuard"]


class ForkGuard:
    """Remembers the pid it was made in; :meth:`forked` reports (once) that it changed."""

    __slots__ = ("_pid",)

    def __init__(self) -> None:
        self._pid = os.getpid()

    def forked(self) -> bool:
        """True the first time it is called in a process other than the one that made it."""
        pid = os.getpid()
        if pid == self._pid:
            return False
        self._pid = pid
        return True
