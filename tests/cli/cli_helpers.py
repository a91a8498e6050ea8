"""Running ``spectrum-sync`` as a user does: a subprocess, real sockets, real signals."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Callable

ALICE = "+15551111111"
LINES = ["+15550000001", "+15550000002"]
COMMAND = [sys.executable, "-m", "spectrum_sync"]


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without any SPECTRUM_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTRUM_")}
    env.update(extra or {})
    return env


def run_cli(*args: str, env: Mapping[str, str], stdin: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], env=dict(env), input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def assert_error(proc: subprocess.CompletedProcess[str], status: int, *needles: str) -> str:
    """The command failed with ``status`` and printed exactly one line on stderr (with
    ``-q``: no status line either), holding every needle; returns that line."""
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _sigint_fix() -> Callable[[], None] | None:
    # Under a background job of a non-interactive shell SIGINT is ignored, and a child
    # inherits that: give it the terminal's behaviour (only then: a preexec_fn makes gRPC's
    # fork handlers complain in this threaded process).
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    return _default_sigint if ignored else None


class CliProcess:
    """A running ``spectrum-sync`` whose output lines are read as they come."""

    def __init__(self, *args: str, env: Mapping[str, str]) -> None:
        self.proc = subprocess.Popen([*COMMAND, *args], env=dict(env), text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, preexec_fn=_sigint_fix())
        self.out: list[str] = []
        self.err: list[str] = []
        self._out_q: queue.Queue[str] = queue.Queue()
        self._err_q: queue.Queue[str] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out, self._out_q),
                             daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err, self._err_q),
                             daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: object, into: list[str], q: queue.Queue[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)
            q.put(line)

    def _wait(self, q: queue.Queue[str], needle: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line with {needle!r} within {timeout} s; "
                                     f"stdout={''.join(self.out)!r} "
                                     f"stderr={''.join(self.err)!r}")
            try:
                line = q.get(timeout=min(left, 0.2))
            except queue.Empty:
                if self.proc.poll() is not None and q.empty():
                    time.sleep(0.1)  # the reader may still be draining the pipe
                    if q.empty():
                        raise AssertionError(
                            f"exited with {self.proc.returncode} before {needle!r}; "
                            f"stderr={''.join(self.err)!r}") from None
                continue
            if needle in line:
                return line

    def wait_stderr(self, needle: str, timeout: float = 20) -> str:
        return self._wait(self._err_q, needle, timeout)

    def wait_stdout(self, needle: str, timeout: float = 20) -> str:
        return self._wait(self._out_q, needle, timeout)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 20) -> tuple[int, str, str]:
        """Wait for the exit; returns (status, stdout, stderr)."""
        status = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return status, "".join(self.out), "".join(self.err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for reader in self._readers:
            reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
