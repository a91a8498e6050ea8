"""A real ``redis-server`` for tests: a free port on 127.0.0.1, a temporary directory, no
persistence unless asked (``appendonly=True`` keeps data across :meth:`RedisServer.restart`),
optional password and TLS. Always cleaned up: by :meth:`close`, the ``with`` block, or at
interpreter exit.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse
import weakref
from pathlib import Path

from .tools import require_tool

__all__ = ["RedisServer", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[bytes] | None, *, kill: bool = False) -> None:
    if process is None or process.poll() is not None:
        return
    if kill:
        process.kill()
    else:
        process.terminate()  # SIGTERM: Redis flushes its append-only file and exits
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class RedisServer:
    """One ``redis-server`` process; :meth:`stop` / :meth:`start` / :meth:`restart` keep the
    port, so clients configured with :attr:`url` reach the new process."""

    def __init__(self, *, appendonly: bool = False, password: str | None = None,
                 tls: tuple[str, str] | None = None) -> None:
        self.binary = require_tool(
            "redis-server", why="the Redis state store is tested against a real Redis")[
            "redis-server"]
        self.appendonly = appendonly
        self.password = password
        self.tls = tls  # (certificate PEM, key PEM): the port speaks TLS only
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="spectrum-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        # The finalizer (also run at interpreter exit) must not hold self: it gets the
        # folder and a box that always holds the current process.
        self._holder: list[subprocess.Popen[bytes] | None] = [None]
        self._finalizer = weakref.finalize(self, RedisServer._cleanup, self.folder,
                                           self._holder)
        self.start()

    @staticmethod
    def _cleanup(folder: Path, holder: list[subprocess.Popen[bytes] | None]) -> None:
        _stop(holder[0], kill=True)
        shutil.rmtree(folder, ignore_errors=True)

    @property
    def url(self) -> str:
        auth = f":{urllib.parse.quote(self.password, safe='')}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def _arguments(self) -> list[str]:
        args = [self.binary, "--bind", "127.0.0.1", "--dir", str(self.folder),
                "--save", "", "--daemonize", "no", "--logfile", "redis.log",
                "--appendonly", "yes" if self.appendonly else "no",
                # Every write is on disk before the reply: a kill loses nothing.
                "--appendfsync", "always"]
        if self.password:
            args += ["--requirepass", self.password]
        if self.tls:
            cert, key = self.tls
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", cert,
                     "--tls-key-file", key, "--tls-ca-cert-file", cert,
                     "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        return args

    def start(self) -> None:
        """Start the server (on the same port as before) and wait until it answers."""
        if self.process is not None and self.process.poll() is None:
            return
        log = self.folder / "redis.log"
        self.process = subprocess.Popen(self._arguments(), cwd=self.folder,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._holder[0] = self.process
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = log.read_text(errors="replace") if log.exists() else ""
                raise RuntimeError(f"redis-server exited ({self.process.returncode}):\n"
                                   f"{text[-2000:]}")
            if self._answers():
                return
            time.sleep(0.02)
        self.close()
        raise RuntimeError("redis-server did not answer within 15 s")

    def _answers(self) -> bool:
        """PING answered (PONG, or NOAUTH with a password): ready, data loaded."""
        try:
            raw = socket.create_connection(("127.0.0.1", self.port), timeout=1)
        except OSError:
            return False
        try:
            conn: socket.socket = raw
            if self.tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                conn = context.wrap_socket(raw)
            conn.sendall(b"PING\r\n")
            reply = conn.recv(64)
        except OSError:
            return False
        finally:
            raw.close()
        return reply.startswith((b"+PONG", b"-NOAUTH"))

    def stop(self) -> None:
        """Stop the server cleanly (SIGTERM); the port becomes free."""
        _stop(self.process)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        _stop(self.process, kill=True)

    def restart(self) -> None:
        """A new process on the same port: data is kept only with ``appendonly``."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its folder."""
        self._finalizer()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
