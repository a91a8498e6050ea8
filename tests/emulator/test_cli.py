"""``spectrum-sync emulator`` run standalone, as a user would from a shell."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

COMMAND = [sys.executable, "-m", "spectrum_sync.cli"]


def read_exports(
    proc: subprocess.Popen[str], names: set[str], timeout: float = 20
) -> dict[str, str]:
    """Read ``export NAME=value`` lines from the process until ``names`` are all seen."""
    env: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while not names <= set(env):
        assert time.monotonic() < deadline, f"exports not printed in time: {env}"
        line = proc.stdout.readline()
        assert line, f"emulator exited early with {proc.poll()}"
        assert line.startswith("export "), line
        name, _, value = line[len("export "):].strip().partition("=")
        env[name] = value.strip("'")
    return env


@pytest.fixture
def running() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [*COMMAND, "emulator", "--plan", "dedicated", "--lines", "+15550000001,+15550000002",
         "--project-id", "cli-proj", "--project-secret", "cli-secret", "--heartbeat", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_standalone_prints_env_serves_and_stops_on_sigint(running: subprocess.Popen[str]) -> None:
    env = read_exports(running, {
        "SPECTRUM_CLOUD_URL", "SPECTRUM_IMESSAGE_ADDRESS", "SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE",
        "SPECTRUM_PROJECT_ID", "SPECTRUM_PROJECT_SECRET", "SPECTRUM_IMESSAGE_TLS",
    })
    assert env["SPECTRUM_PROJECT_ID"] == "cli-proj"
    assert env["SPECTRUM_PROJECT_SECRET"] == "cli-secret"
    assert env["SPECTRUM_IMESSAGE_TLS"] == "false"

    basic = base64.b64encode(b"cli-proj:cli-secret").decode()
    req = urllib.request.Request(
        f"{env['SPECTRUM_CLOUD_URL']}/projects/cli-proj/imessage/tokens",
        method="POST", headers={"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        data = json.loads(resp.read())["data"]
    assert sorted(data["numbers"].values()) == ["+15550000001", "+15550000002"]

    inbound = urllib.request.Request(
        f"{env['SPECTRUM_CLOUD_URL']}/_emulator/inbound", method="POST",
        data=json.dumps({"from": "+15551111111", "text": "hi", "line": "+15550000001"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(inbound, timeout=10) as resp:
        assert json.loads(resp.read())["guid"]

    running.send_signal(signal.SIGINT)
    assert running.wait(10) == 0


def test_sigterm_stops_it_too(running: subprocess.Popen[str]) -> None:
    read_exports(running, {"SPECTRUM_CLOUD_URL"})
    running.send_signal(signal.SIGTERM)
    assert running.wait(10) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-cert", "x.pem"], "--tls-cert and --tls-key go together"),
        (["--plan", "dedicated", "--lines", ""], "needs --lines"),
        (["--plan", "galactic"], "invalid choice"),
    ],
)
def test_bad_options_fail_clearly(args: list[str], message: str) -> None:
    proc = subprocess.run([*COMMAND, "emulator", *args], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_console_script_is_installed() -> None:
    script = shutil.which("spectrum-sync", path=os.path.dirname(sys.executable) + os.pathsep
                          + os.environ.get("PATH", ""))
    assert script, "the spectrum-sync console script is not installed"
    proc = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert "emulator" in proc.stdout
