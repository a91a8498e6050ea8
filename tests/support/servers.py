"""Real servers for integration tests: any command in its own process group, and Redis.

Every process is started in a new session and stopped with its whole group (SIGTERM, then
SIGKILL after a grace period), from a context manager: a failing test leaves no orphan
(gunicorn, uWSGI and Celery workers included). Output goes to a log file whose tail is shown
when a server does not come up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from support.tools import require_tool

__all__ = ["Server", "free_port", "redis_server", "wait_for_port"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> bool:
    """Whether something accepts connections on ``port`` within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return True
        time.sleep(0.05)
    return False


class Server:
    """A command run in its own process group, its output in ``log_path``."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | str,
                 log_path: Path) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(self.argv, env=dict(env), cwd=str(cwd),
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self, tail: int = 4000) -> str:
        """The end of the server's output."""
        self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def wait_ready(self, port: int | None = None, url: str | None = None,
                   timeout: float = 30.0) -> None:
        """Wait until ``port`` accepts connections or ``url`` answers (any status); raise
        with the server's output when it exits or the time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited with {self.proc.returncode}:\n"
                                   f"{self.log()}")
            if url is not None:
                try:
                    urllib.request.urlopen(url, timeout=2).close()
                    return
                except urllib.error.HTTPError:
                    return
                except OSError:
                    pass
            elif port is not None and wait_for_port(port, timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.argv[0]} did not come up in {timeout} s:\n{self.log()}")

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the server's main process."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)

    def stop(self, grace: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
        """Stop the server: ``sig`` to its main process (a master stops its own workers),
        then SIGKILL to the whole group after ``grace`` or once the main process is gone, so
        that nothing outlives the test. Returns the main process's exit status."""
        try:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(grace)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
            return self.proc.returncode
        finally:
            self._log.close()


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A real ``redis-server`` on a free port, its files in ``folder``; yields its URL."""
    binary = require_tool("redis-server", why="the Celery broker test runs a real Redis")
    folder.mkdir(parents=True, exist_ok=True)
    for _attempt in range(3):  # the port may be taken between free_port() and the bind
        port = free_port()
        server = Server([binary["redis-server"], "--port", str(port), "--bind", "127.0.0.1",
                         "--dir", str(folder), "--save", "", "--appendonly", "no",
                         "--protected-mode", "no", "--daemonize", "no"],
                        env=os.environ, cwd=folder, log_path=folder / f"redis-{port}.log")
        try:
            server.wait_ready(port=port, timeout=10)
        except RuntimeError:
            server.stop()
            continue
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.stop()
        return
    raise RuntimeError("redis-server did not start")
