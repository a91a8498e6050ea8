"""Where people get the page's address: ``spectrum-sync emulator --ui``, ``spectrum-sync demo
--ui`` and the pytest plugin's ``--spectrum-ui``, each run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

URL = re.compile(r"http://127\.0\.0\.1:\d+/_emulator/ui/")


def no_display_env() -> dict[str, str]:
    """The environment of a machine without a display: no browser is started."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SPECTRUM_EMULATOR_UI")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def read_until(proc: subprocess.Popen[str], needle: str, timeout: float = 30,
               stream: str = "stderr") -> str:
    """Lines of ``stream`` up to the one holding ``needle`` (all of them)."""
    pipe = getattr(proc, stream)
    assert pipe is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = pipe.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen)
    raise AssertionError(f"{needle!r} never printed; stderr: {''.join(seen)!r}")


def fetch_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def test_emulator_ui_prints_the_page_address() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "spectrum_sync.emulator.cli", "--ui"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=no_display_env())
    try:
        # After the exports, as a shell comment: `eval "$(...)"` still works.
        printed = read_until(proc, "# web page:", stream="stdout")
        assert all(line.startswith(("export ", "# web page: "))
                   for line in printed.splitlines())
        found = URL.search(printed)
        assert found is not None
        with urllib.request.urlopen(found.group(0), timeout=10) as answer:
            assert answer.status == 200 and b"Spectrum emulator" in answer.read()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0


def test_emulator_ui_in_the_background(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    done = subprocess.run(
        [sys.executable, "-m", "spectrum_sync.emulator.cli", "--ui", "--background",
         "--env-file", str(env_file)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        env=no_display_env())
    assert done.returncode == 0, done.stderr
    pid = int(re.findall(r"SPECTRUM_EMULATOR_PID=(\d+)", done.stdout)[0])
    try:
        found = URL.search(done.stdout)
        assert found is not None, done.stdout
        assert isinstance(fetch_json(found.group(0) + "api/overview"), dict)
    finally:
        os.kill(pid, signal.SIGTERM)


def test_demo_ui_prints_the_page_and_keeps_serving_it() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "spectrum_sync", "demo", "--ui"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=no_display_env())
    try:
        found = URL.search(read_until(proc, "keeps serving", timeout=60))
        assert found is not None
        overview = fetch_json(found.group(0) + "api/overview")
        assert isinstance(overview, dict)
        assert sum(len(line["chats"]) for line in overview["lines"]) >= 2  # the demo's chats
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0


def test_pytest_plugin_prints_each_emulator_page(tmp_path: Path) -> None:
    (tmp_path / "test_mine.py").write_text(textwrap.dedent('''
        def test_uses_the_emulator(spectrum_emulator):
            assert spectrum_emulator.ui_url
    '''))
    command = [sys.executable, "-m", "pytest", "-p", "spectrum_sync.pytest_plugin", "-q",
               "-p", "no:cacheprovider", "test_mine.py"]
    env = {**no_display_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    quiet = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env=env)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "emulator web page" not in quiet.stdout
    for extra, extra_env in (["--spectrum-ui"], {}), ([], {"SPECTRUM_EMULATOR_UI": "1"}):
        shown = subprocess.run([*command, *extra], cwd=tmp_path, capture_output=True,
                               text=True, timeout=120, env={**env, **extra_env})
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert re.search(r"test_mine\.py::test_uses_the_emulator: emulator web page "
                         + URL.pattern, shown.stdout), shown.stdout


def test_opening_a_browser_never_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import webbrowser

    from spectrum_sync.emulator.cli import open_in_browser

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, new=0: opened.append(url) or True)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        # No display: not even a text browser is started (it would take the terminal).
        assert open_in_browser("http://127.0.0.1:1/_emulator/ui/") is False
        assert opened == []
    monkeypatch.setenv("DISPLAY", ":0")
    assert open_in_browser("http://127.0.0.1:1/_emulator/ui/") is True
    assert opened == ["http://127.0.0.1:1/_emulator/ui/"]

    def broken(url: str, new: int = 0) -> bool:
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(webbrowser, "open", broken)
    assert open_in_browser("http://127.0.0.1:1/_emulator/ui/") is False
