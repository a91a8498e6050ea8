"""The command line as a whole: entry points, help, version, usage errors, cheap start."""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
import sys
from pathlib import Path

from cli_helpers import COMMAND, assert_error, base_env, run_cli

import spectrum_sync
from spectrum_sync.emulator import Emulator


def test_version_and_help() -> None:
    env = base_env()
    version = run_cli("--version", env=env)
    assert version.returncode == 0
    assert version.stdout.strip() == f"spectrum-sync {spectrum_sync.__version__}"
    helped = run_cli("--help", env=env)
    assert helped.returncode == 0
    for command in ("demo", "send", "listen", "lines", "emulator", "--emulator"):
        assert command in helped.stdout
    for command in ("send", "listen", "lines", "demo"):
        sub = run_cli(command, "--help", env=env)
        assert sub.returncode == 0 and f"spectrum-sync {command}" in sub.stdout, sub.stderr
        assert "--emulator" in sub.stdout  # the common options are accepted after it too


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "spectrum-sync"
    assert script.exists(), "pip install the package: it provides the spectrum-sync script"
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0 and "spectrum-sync" in proc.stdout


def test_usage_errors_are_one_line_with_status_2() -> None:
    env = base_env()
    assert_error(run_cli(env=env), 2, "name a command", "demo")
    assert_error(run_cli("frobnicate", env=env), 2, "invalid choice")
    assert_error(run_cli("send", "--to", "+15551111111", env=env), 2, "TEXT")
    assert_error(run_cli("send", "x", env=env), 2, "--to")
    assert_error(run_cli("lines", "--bogus", env=env), 2, "--bogus")
    assert_error(run_cli("--timeout", "-1", "lines", env=env), 2, "--timeout")
    assert_error(run_cli("lines", "--emulator-plan", "shared", env=env), 2,
                 "go with --emulator")


def test_emulator_command_is_the_emulators_own() -> None:
    env = base_env()
    helped = run_cli("emulator", "--help", env=env)
    assert helped.returncode == 0
    assert "--env-file" in helped.stdout and "--background" in helped.stdout
    assert_error(run_cli("emulator", "--plan", "nope", env=env), 2, "--plan")
    assert_error(run_cli("--emulator", "emulator", env=env), 2, "after its name")


def test_missing_credentials_name_what_to_set() -> None:
    for command in (["send", "--to", "+15551111111", "hi"], ["listen"], ["lines"]):
        line = assert_error(run_cli(*command, env=base_env()), 2, "SPECTRUM_PROJECT_ID",
                            "SPECTRUM_PROJECT_SECRET", "--emulator")
        assert line.startswith(f"spectrum-sync {command[0]}: error: missing credentials")


def test_parsing_loads_neither_grpc_nor_the_emulator() -> None:
    # `spectrum-sync --help` and usage errors must answer at once.
    code = ("import sys; from spectrum_sync.cli import build_parser; build_parser(); "
            "heavy = [m for m in sys.modules if m.split('.')[0] == 'grpc' or "
            "m.startswith(('spectrum_sync.emulator', 'spectrum_sync._client'))]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_progress_shows_on_a_terminal_only(emu: Emulator, env: dict[str, str]) -> None:
    quiet = run_cli("lines", env=env)
    assert quiet.returncode == 0 and quiet.stderr == ""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.run([*COMMAND, "lines"], env=env, stdout=subprocess.PIPE,
                              stderr=terminal, text=True, timeout=30)
        os.close(terminal)
        terminal = -1
        shown = b""
        with contextlib.suppress(OSError):  # EIO once the terminal's other side is closed
            while chunk := os.read(controller, 4096):
                shown += chunk
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    assert proc.returncode == 0
    assert f"connecting to {emu.cloud_url} as project proj".encode() in shown
