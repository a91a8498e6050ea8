"""The pytest plugin, as a user meets it: a project of their own in a temporary folder, its
tests using the fixtures with no configuration, run by ``python -m pytest`` in a subprocess
with the installed package."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

APP = '''
import spectrum_sync as spectrum


def notify(client: spectrum.Client, to: str, text: str) -> str:
    """The user's code under test: send a notification, return its guid."""
    return client.space.create(client.user(to)).send(text).guid


def notify_from_env(to: str, text: str) -> str:
    with spectrum.Client() as client:  # configured by the environment
        return notify(client, to, text)
'''

TESTS = '''
import os

import pytest

from notify import notify, notify_from_env


def test_notify(spectrum_client, spectrum_emulator):
    guid = notify(spectrum_client, "+1 (555) 111-1111", "shipped")
    [message] = spectrum_emulator.messages()
    assert (message["guid"], message["text"], message["is_from_me"]) == (guid, "shipped", True)
    assert message["chat"] == "any;-;+15551111111"


def test_every_test_gets_a_fresh_emulator(spectrum_emulator):
    assert spectrum_emulator.messages() == []
    assert [line.number for line in spectrum_emulator.lines] == ["+15550000001"]


@pytest.mark.spectrum_emulator(plan="shared")
def test_marker_options(spectrum_client):
    assert spectrum_client.mode == "shared"


def test_code_that_makes_its_own_client(spectrum_env, spectrum_emulator):
    assert os.environ["SPECTRUM_CLOUD_URL"] == spectrum_emulator.cloud_url
    notify_from_env("+15551111111", "from env")
    assert [m["text"] for m in spectrum_emulator.messages()] == ["from env"]


def test_the_environment_is_restored():
    assert not any(name.startswith("SPECTRUM_") for name in os.environ)


def test_receiving(spectrum_client, spectrum_emulator):
    with spectrum_client.messages() as inbox:
        spectrum_emulator.simulate_inbound("+15551111111", "hi there")
        message = next(inbox)
    assert message.text == "hi there" and message.sender.address == "+15551111111"


def test_a_failing_test_fails(spectrum_client, spectrum_emulator):
    notify(spectrum_client, "+15551111111", "one")
    assert len(spectrum_emulator.messages()) == 2, "EXPECTED TO FAIL"


@pytest.mark.spectrum_emulator("shared")
def test_bad_marker(spectrum_emulator):
    pass
'''

TESTS_WITH_OPTIONS = '''
import pytest

pytestmark = pytest.mark.spectrum_emulator(lines=["+15550000007", "+15550000008"])


@pytest.fixture
def spectrum_client_options():
    return {"timeout": 5.0}


def test_module_marker_and_client_options(spectrum_client):
    assert spectrum_client.phones == ["+15550000007", "+15550000008"]
    assert spectrum_client.timeout == 5.0


@pytest.mark.spectrum_emulator(plan="shared")
def test_the_closest_marker_wins(spectrum_emulator):
    assert spectrum_emulator.plan == "shared"
'''

TESTS_WITH_CLOCK = '''
import time

import pytest

from spectrum_sync.emulator.clock import ManualClock


def token_exchanges(emulator):
    return sum(1 for method, path in emulator.rest.requests if path.endswith("/tokens"))


@pytest.mark.spectrum_emulator(clock=ManualClock(), token_ttl=60)
def test_tokens_follow_the_test_clock(spectrum_client, spectrum_emulator):
    space = spectrum_client.space.create("+15551111111")
    assert token_exchanges(spectrum_emulator) == 1
    spectrum_emulator.test_clock.advance(50)  # past 80 %: renewed in the background
    deadline = time.monotonic() + 5
    while token_exchanges(spectrum_emulator) < 2:
        assert time.monotonic() < deadline, "the client's token was not renewed"
        time.sleep(0.01)
    spectrum_emulator.test_clock.advance(20)  # past the first token's expiry
    assert space.send("still signed in").text == "still signed in"
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "userproject"
    folder.mkdir()
    (folder / "notify.py").write_text(textwrap.dedent(APP))
    (folder / "test_notify.py").write_text(textwrap.dedent(TESTS))
    (folder / "test_options.py").write_text(textwrap.dedent(TESTS_WITH_OPTIONS))
    (folder / "test_clock.py").write_text(textwrap.dedent(TESTS_WITH_CLOCK))
    return folder


def run_pytest(folder: Path, *args: str, autoload: bool = True
               ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPECTRUM_", "PYTEST_", "PYTHONPATH"))}
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(folder), *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def outcome(proc: subprocess.CompletedProcess[str]) -> dict[str, int]:
    last = proc.stdout.strip().splitlines()[-1]
    return {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?)", last)}


def test_a_user_project_gets_the_fixtures(project: Path) -> None:
    proc = run_pytest(project)
    assert outcome(proc) == {"passed": 9, "failed": 1, "error": 1}, proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "FAILED test_notify.py::test_a_failing_test_fails" in proc.stdout
    assert "EXPECTED TO FAIL" in proc.stdout
    assert "ERROR test_notify.py::test_bad_marker" in proc.stdout
    assert "takes keyword arguments only" in proc.stdout


def test_the_plugin_loads_by_name_too(project: Path) -> None:
    # A root conftest may name the plugin (needed when autoloading is off); with autoloading
    # on, that must not register it twice. Also with the import mode this repository uses.
    (project / "conftest.py").write_text('pytest_plugins = ["spectrum_sync.pytest_plugin"]\n')
    for autoload in (True, False):
        proc = run_pytest(project, "--import-mode=importlib", "-o", "pythonpath=.",
                          "test_notify.py::test_notify", "test_options.py", autoload=autoload)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert outcome(proc) == {"passed": 3}
    (project / "conftest.py").unlink()
    without = run_pytest(project, "test_notify.py::test_notify", autoload=False)
    assert without.returncode == 1 and "fixture 'spectrum_client' not found" in without.stdout
