"""``spectrum-sync emulator`` run standalone, as a user would from a shell or a CI script."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from webhook_receiver import Receiver, verify

COMMAND = [sys.executable, "-m", "spectrum_sync.emulator.cli"]
LINES = "+15550000001,+15550000002"


def parse_exports(text: str) -> dict[str, str]:
    """``export NAME=value`` lines -> dict (values are simple enough for this)."""
    env = {}
    for line in text.splitlines():
        assert line.startswith("export "), line
        name, _, value = line[len("export "):].partition("=")
        env[name] = value.strip("'")
    return env


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
        env.update(parse_exports(line))
    return env


def get_json(url: str, **headers: str) -> object:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                timeout=10) as resp:
        return json.loads(resp.read())


def serving(url: str) -> bool:
    try:
        get_json(f"{url}/_emulator/state")
        return True
    except (urllib.error.URLError, ConnectionError):
        return False


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def background_pids() -> Iterator[list[int]]:
    """Pids of background emulators started by a test (killed at teardown if still alive)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def running() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [*COMMAND, "--plan", "dedicated", "--lines", LINES, "--project-id", "cli-proj",
         "--project-secret", "cli-secret", "--heartbeat", "1"],
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


# -- foreground -------------------------------------------------------------------------------


def test_standalone_prints_env_serves_and_stops_on_sigint(running: subprocess.Popen[str]) -> None:
    env = read_exports(running, {
        "SPECTRUM_CLOUD_URL", "SPECTRUM_IMESSAGE_ADDRESS", "SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE",
        "SPECTRUM_PROJECT_ID", "SPECTRUM_PROJECT_SECRET", "SPECTRUM_IMESSAGE_TLS",
        "SPECTRUM_EMULATOR_ADMIN_TOKEN", "SPECTRUM_EMULATOR_PID",
    })
    assert env["SPECTRUM_PROJECT_ID"] == "cli-proj"
    assert env["SPECTRUM_PROJECT_SECRET"] == "cli-secret"
    assert env["SPECTRUM_IMESSAGE_TLS"] == "false"
    assert env["SPECTRUM_EMULATOR_PID"] == str(running.pid)

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
    assert running.stderr is not None
    err = running.stderr.read()
    assert env["SPECTRUM_EMULATOR_ADMIN_TOKEN"] in err  # the admin token is printed on stderr
    assert "Traceback" not in err


def test_sigterm_stops_it_too(running: subprocess.Popen[str]) -> None:
    env = read_exports(running, {"SPECTRUM_CLOUD_URL", "SPECTRUM_EMULATOR_PID"})
    running.send_signal(signal.SIGTERM)
    assert running.wait(10) == 0
    assert not serving(env["SPECTRUM_CLOUD_URL"])


def test_admin_token_option(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    proc = subprocess.Popen([*COMMAND, "--admin-token", "my-fixed-token", "--env-file",
                             str(env_file)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert wait_until(env_file.exists)
        env = parse_exports(env_file.read_text())
        assert env["SPECTRUM_EMULATOR_ADMIN_TOKEN"] == "my-fixed-token"
        state = get_json(f"{env['SPECTRUM_CLOUD_URL']}/_emulator/state", Host="elsewhere",
                         **{"x-emulator-token": "my-fixed-token"})
        assert isinstance(state, dict) and state["plan"] == "dedicated"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        assert proc.stderr is not None
        proc.stderr.close()


# -- --env-file -------------------------------------------------------------------------------


def test_env_file_is_written_complete_private_and_removed_at_exit(tmp_path: Path) -> None:
    env_file = tmp_path / "emulator.env"
    env_file.write_text("stale content from an earlier run\n")
    proc = subprocess.Popen([*COMMAND, "--lines", LINES, "--env-file", str(env_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert wait_until(lambda: "SPECTRUM_EMULATOR_PID" in env_file.read_text())
        text = env_file.read_text()
        env = parse_exports(text)
        assert env["SPECTRUM_EMULATOR_PID"] == str(proc.pid)
        assert serving(env["SPECTRUM_CLOUD_URL"])  # it serves once the file is there
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert [p.name for p in tmp_path.iterdir()] == ["emulator.env"]  # no temp leftovers
        assert proc.stdout is not None
        printed = "".join(proc.stdout.readline() for _ in text.splitlines())
        assert printed == text
        # `source` works on it.
        shell = subprocess.run(["bash", "-c", f'. "{env_file}" && echo "$SPECTRUM_CLOUD_URL"'],
                               capture_output=True, text=True, timeout=30)
        assert shell.stdout.strip() == env["SPECTRUM_CLOUD_URL"]
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        assert proc.stdout is not None
        proc.stdout.close()
    assert not env_file.exists()


# -- --background -----------------------------------------------------------------------------


def test_background_returns_once_it_serves(background_pids: list[int], tmp_path: Path) -> None:
    started = time.monotonic()
    proc = run("--background", "--lines", LINES, "--project-id", "bg-proj")
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 15
    env = parse_exports(proc.stdout)
    pid = int(env["SPECTRUM_EMULATOR_PID"])
    background_pids.append(pid)
    assert env["SPECTRUM_PROJECT_ID"] == "bg-proj"
    assert serving(env["SPECTRUM_CLOUD_URL"])
    assert os.getsid(pid) == pid  # detached: its own session, away from the terminal's ^C
    state = get_json(f"{env['SPECTRUM_CLOUD_URL']}/_emulator/state")
    assert isinstance(state, dict)
    assert [ln["number"] for ln in state["lines"]] == LINES.split(",")
    os.kill(pid, signal.SIGTERM)
    assert wait_until(lambda: not serving(env["SPECTRUM_CLOUD_URL"]))


def test_eval_in_a_shell_script(background_pids: list[int], tmp_path: Path) -> None:
    script = f"""
set -euo pipefail
eval "$({' '.join(COMMAND)} --background --project-id script-proj)"
echo "pid=$SPECTRUM_EMULATOR_PID"
"{sys.executable}" - <<'EOF'
import json, os, urllib.request
url = os.environ["SPECTRUM_CLOUD_URL"] + "/_emulator/inbound"
request = urllib.request.Request(url, method="POST", headers={{"Content-Type":
    "application/json"}}, data=json.dumps({{"from": "+15551111111", "text": "hi"}}).encode())
print("guid=" + json.loads(urllib.request.urlopen(request, timeout=10).read())["guid"])
print("project=" + os.environ["SPECTRUM_PROJECT_ID"])
EOF
kill "$SPECTRUM_EMULATOR_PID"
"""
    # A command substitution waits for EOF on its pipe: a background emulator that kept
    # stdout open would hang this script until the timeout.
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    values = dict(line.split("=", 1) for line in proc.stdout.split())
    if "pid" in values:
        background_pids.append(int(values["pid"]))
    assert proc.returncode == 0, proc.stderr
    assert values["project"] == "script-proj"
    assert len(values["guid"]) == 36


def test_background_with_env_file_and_log_file(background_pids: list[int],
                                               tmp_path: Path) -> None:
    env_file, log_file = tmp_path / "env", tmp_path / "emulator.log"
    proc = run("--background", "--env-file", str(env_file), "--log-file", str(log_file),
               "--project-secret", "bg-s3cr3t-9")
    assert proc.returncode == 0, proc.stderr
    env = parse_exports(proc.stdout)
    pid = int(env["SPECTRUM_EMULATOR_PID"])
    background_pids.append(pid)
    assert env_file.read_text() == proc.stdout
    assert wait_until(lambda: "admin API" in log_file.read_text())
    # Each export is written once: to the env file, not a second time into the log (whose
    # copy would hold the secret and the admin token).
    lines = env_file.read_text().splitlines()
    assert len(lines) == len(set(lines)) == len(env)
    log_text = log_file.read_text()
    assert "export " not in log_text
    assert env["SPECTRUM_EMULATOR_ADMIN_TOKEN"] not in log_text
    assert env["SPECTRUM_PROJECT_SECRET"] not in log_text
    os.kill(pid, signal.SIGTERM)
    assert wait_until(lambda: not env_file.exists())


def test_quiet_writes_the_exports_to_the_env_file_only(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    proc = subprocess.Popen([*COMMAND, "--env-file", str(env_file), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert wait_until(lambda: env_file.exists() and "SPECTRUM_EMULATOR_PID" in
                          env_file.read_text())
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0 and out == ""
    assert run("--quiet").returncode == 1


def test_background_with_webhooks(background_pids: list[int]) -> None:
    receiver = Receiver()
    try:
        proc = run("--background", "--webhook-url", receiver.url, "--webhook-secret", "cli-s3")
        assert proc.returncode == 0, proc.stderr
        env = parse_exports(proc.stdout)
        background_pids.append(int(env["SPECTRUM_EMULATOR_PID"]))
        assert env["SPECTRUM_WEBHOOK_SECRET"] == "cli-s3"
        request = urllib.request.Request(
            f"{env['SPECTRUM_CLOUD_URL']}/_emulator/inbound", method="POST",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"from": "+15551111111", "text": "to the webhook"}).encode())
        urllib.request.urlopen(request, timeout=10).close()
        (delivered,) = receiver.wait_for(1)
        verify(delivered, "cli-s3")
        assert delivered.json()["message"]["content"] == {"type": "text",
                                                          "text": "to the webhook"}
    finally:
        receiver.close()


def test_background_failure_is_one_line(background_pids: list[int]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        started = time.monotonic()
        proc = run("--background", "--http-port", str(busy.getsockname()[1]))
    assert proc.returncode == 1
    assert time.monotonic() - started < 15
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("spectrum-sync emulator: ")
    assert "in use" in lines[0]


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-cert", "x.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "nonexistent"),
        (["--tls-cert", __file__, "--tls-key", __file__], "cannot use the TLS certificate"),
        (["--plan", "dedicated", "--lines", ""], "needs --lines"),
        (["--lines", "+1 not a number"], "cannot start the emulator"),
        (["--plan", "galactic"], "invalid choice"),
        (["--token-ttl", "nan"], "finite"),
        (["--heartbeat", "-1"], "finite"),
        (["--grpc-port", "70000"], "not a port"),
        (["--daily-message-limit", "many"], "not an integer"),
        (["--webhook-secret", "s"], "--webhook-secret needs --webhook-url"),
        (["--webhook-url", "ftp://example.com/"], "webhook_url"),
        (["--admin-token", "short"], "admin_token"),
        (["--background", "--demo"], "do not go together"),
        (["--log-file", "x.log"], "--log-file goes with --background"),
        (["--env-file", "/nonexistent/dir/env"], "no directory"),
        (["--background", "--env-file", "/nonexistent/dir/env"], "no directory"),
        (["--bogus"], "unrecognized arguments"),
        (["--back"], "unrecognized arguments"),  # no abbreviations
    ],
)
def test_bad_options_fail_with_one_line(args: list[str], message: str) -> None:
    proc = run(*args)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_busy_ports_in_the_foreground_are_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for option, name in (("--http-port", "HTTP"), ("--grpc-port", "gRPC")):
            proc = run(option, str(port))
            assert proc.returncode == 1
            assert proc.stderr.strip().splitlines() == [
                "spectrum-sync emulator: cannot start the emulator: Address already in use "
                f"({name} port 127.0.0.1:{port})"]


def test_console_script_is_installed() -> None:
    script = shutil.which("spectrum-sync", path=os.path.dirname(sys.executable) + os.pathsep
                          + os.environ.get("PATH", ""))
    assert script, "the spectrum-sync console script is not installed"
    proc = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert "emulator" in proc.stdout
    proc = subprocess.run([script, "emulator", "--help"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0
    for option in ("--env-file", "--background", "--webhook-url", "--webhook-secret"):
        assert option in proc.stdout
