"""The emulator in its own process, for fault tests: SIGKILL it, restart it on the same ports,
drive it through its admin HTTP API, measure the client without the emulator's work mixed in."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["EmulatorProcess"]


class EmulatorProcess:
    """``spectrum-sync emulator`` as a subprocess. ``env`` is what a client needs."""

    def __init__(self, *args: str, lines: str = "+15550000001,+15550000002",
                 heartbeat: float = 0.5) -> None:
        self._args = ["--lines", lines, "--heartbeat", str(heartbeat), *args]
        self._folder = Path(tempfile.mkdtemp(prefix="spectrum-emu-"))
        self.env: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._ports: list[str] = []

    def start(self) -> EmulatorProcess:
        """Start (again, on the same ports once it ran) and wait until it serves."""
        env_file = self._folder / "env"
        env_file.unlink(missing_ok=True)
        ports = self._ports
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spectrum_sync.emulator.cli", *self._args, *ports,
             "--env-file", str(env_file)],
            stdout=subprocess.DEVNULL, stderr=open(self._folder / "log", "ab"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 20
        while not env_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self._folder / "log").read_text(errors="replace")
                raise RuntimeError(f"the emulator did not start:\n{log}")
            time.sleep(0.02)
        self.env = {}
        for line in env_file.read_text().splitlines():
            if line.startswith("export "):
                name, _, value = line[len("export "):].partition("=")
                self.env[name] = shlex.split(value)[0] if value else ""
        if not ports:
            grpc_port = self.env["SPECTRUM_IMESSAGE_ADDRESS"].rsplit(":", 1)[1]
            http_port = self.env["SPECTRUM_CLOUD_URL"].rsplit(":", 1)[1]
            self._ports = ["--grpc-port", grpc_port, "--http-port", http_port]
        return self

    def kill(self) -> None:
        """SIGKILL: the emulator vanishes with its state, as a crashed cloud node would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def admin(self, route: str, body: dict[str, Any] | None = None, *,
              method: str = "POST") -> Any:
        """Call an admin route (POST with a JSON body by default); returns its JSON answer."""
        url = f"{self.env['SPECTRUM_CLOUD_URL']}/_emulator/{route}"
        data = json.dumps(body or {}).encode() if method == "POST" else None
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.loads(response.read() or b"null")
            except (ConnectionError, urllib.error.URLError) as exc:
                # The admin server itself restarts a moment after answering "restart".
                if isinstance(exc, urllib.error.HTTPError) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def inbound(self, sender: str, text: str, line: str, count: int = 1) -> Any:
        return self.admin("inbound", {"from": sender, "text": text, "line": line,
                                      "count": count})

    def client_env(self) -> dict[str, str]:
        """The environment for a subprocess client."""
        return {**os.environ, **self.env}

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
