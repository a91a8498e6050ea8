"""Bad input is refused early, with the library's errors, never a raw one from deep inside."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.receiving import ALICE, LINE

import spectrum_sync as spectrum
from spectrum_sync import Client, QuotaLimits, ReceiveOptions, RetryPolicy, SQLiteStore
from spectrum_sync.emulator import Emulator


@pytest.mark.parametrize("options", [
    {"refresh_after_failures": 0}, {"backoff_initial": 0}, {"backoff_initial": -1},
    {"backoff_max": float("inf")}, {"stall_timeout": 0}, {"stall_timeout": float("nan")},
    {"families": ("bogus",)}, {"families": ()}, {"families": 5}, {"queue_size": 0},
    {"queue_size": 1.5}, {"dedupe_size": -1}, {"history": "yes"}, {"commit_interval": -0.1},
    {"backoff_initial": 10, "backoff_max": 1},
])
def test_receive_options_are_validated(options: dict[str, Any]) -> None:
    with pytest.raises(spectrum.ConfigurationError):
        ReceiveOptions(**options)


def test_a_single_family_name_is_accepted() -> None:
    assert ReceiveOptions(families="messages").families == ("messages",)


@pytest.mark.parametrize("policy", [{"base": -1}, {"base": 0}, {"cap": float("nan")},
                                    {"max_attempts": 0}, {"max_attempts": 2.5},
                                    {"max_attempts": True}])
def test_retry_policies_are_validated(policy: dict[str, Any]) -> None:
    with pytest.raises(spectrum.ConfigurationError):
        RetryPolicy(**policy)


@pytest.mark.parametrize("limits", [{"messages_per_day": -1},
                                    {"new_conversations_per_day": 2.5}])
def test_quota_limits_are_validated(limits: dict[str, Any]) -> None:
    with pytest.raises(spectrum.ConfigurationError):
        QuotaLimits(**limits)


@pytest.mark.parametrize("kwargs", [
    {"timeout": float("inf")}, {"timeout": 1e300}, {"timeout": float("nan")},
    {"timeout": 0}, {"timeout": "30"}, {"project_id": 5}, {"project_secret": b"s"},
    {"cloud_url": 7}, {"default_region": "USA"}, {"user_cache_size": 0},
    {"retry": 3}, {"receive": {}}, {"quota_limits": "none"}, {"tls": "yes"},
    {"state": 42}, {"state": "postgres://x"}, {"lines": "host:1"},
])
def test_client_configuration_is_validated(kwargs: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"project_id": "p", "project_secret": "s", "env": {}}
    settings.update(kwargs)
    if "lines" in kwargs:
        settings.pop("project_id")
        settings.pop("project_secret")
    with pytest.raises(spectrum.ConfigurationError):
        Client(**settings)


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1, 0, "1", 1e9])
def test_per_call_timeouts_are_validated(emu: Emulator, client: Client, timeout: Any) -> None:
    space = client.space.create(ALICE, phone=LINE)
    emu.clear_requests()
    with pytest.raises(spectrum.ValidationError, match="timeout"):
        space.send("x", timeout=timeout)
    with pytest.raises(spectrum.ValidationError, match="timeout"):
        client.user(ALICE, timeout=timeout)
    assert emu.requests == []


@pytest.mark.parametrize("users", [None, 123, b"+15551111111", {"a": 1}, [None], [ALICE, 5]])
def test_space_create_refuses_what_is_no_user(client: Client, users: Any) -> None:
    with pytest.raises(spectrum.ValidationError):
        client.space.create(users, phone=LINE)


@pytest.mark.parametrize("kwargs", [{"subject": 123}, {"effect": 5}, {"reply_to": 7},
                                    {"subject": "\udc80"}])
def test_send_refuses_wrong_types(client: Client, kwargs: dict[str, Any]) -> None:
    space = client.space.create(ALICE, phone=LINE)
    with pytest.raises(spectrum.ValidationError):
        space.send("x", **kwargs)


@pytest.mark.parametrize("text", [None, 5, "", b"bytes"])
def test_send_refuses_what_is_no_text(client: Client, text: Any) -> None:
    space = client.space.create(ALICE, phone=LINE)
    with pytest.raises(spectrum.ValidationError):
        space.send(text)


@pytest.mark.parametrize("address", ["mailto:a@b.co", "🙂@example.com", "a@b", "a@@b.co",
                                     "a b@c.co", "x" * 400 + "@b.co", "+", "hello", 12345])
def test_addresses_that_are_no_handles_are_refused(client: Client, address: Any) -> None:
    with pytest.raises(spectrum.InvalidAddress):
        client.user(address)


@pytest.mark.parametrize("reaction", ["hello", "👍👍", "a\ufe0f", "", " ", "sticker", 5])
def test_reactions_must_be_one_emoji_or_a_tapback_name(
    emu: Emulator, client: Client, reaction: Any
) -> None:
    message = client.space.create(ALICE, phone=LINE).send("react to me")
    emu.clear_requests()
    with pytest.raises(spectrum.ValidationError):
        message.react(reaction)
    assert emu.requests == []


@pytest.mark.parametrize("reaction", ["❤️", "👍🏽", "👨‍👩‍👧", "🇫🇷", "1️⃣", "🎉", "LOVE",
                                      " laugh "])
def test_real_emoji_and_names_are_accepted(client: Client, reaction: str) -> None:
    message = client.space.create(ALICE, phone=LINE).send("react to me")
    message.react(reaction)


def test_event_kinds_as_one_string_or_a_list(client: Client) -> None:
    client.events(kinds="message").close()
    client.events(kinds=["message", "reaction"]).close()
    with pytest.raises(spectrum.ValidationError, match="unknown event kinds"):
        client.events(kinds="messages")
    with pytest.raises(spectrum.ValidationError):
        client.events(kinds=5)  # type: ignore[arg-type]


# ----- state files ------------------------------------------------------------------------


def test_state_in_a_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "state.db"
    with pytest.raises(spectrum.ConfigurationError, match="does not exist") as info:
        SQLiteStore(target)
    assert str(target) in str(info.value)


@pytest.mark.parametrize("make", ["directory", "devnull", "corrupt", "text"])
def test_unusable_state_files_are_named(tmp_path: Path, make: str) -> None:
    path = tmp_path / "state.db"
    if make == "directory":
        path.mkdir()
    elif make == "devnull":
        path = Path("/dev/null")
    elif make == "corrupt":
        SQLiteStore(path).close()
        with open(path, "r+b") as handle:
            handle.seek(0)
            handle.write(b"garbage" * 200)
    else:
        path.write_text("just some text, not a database, long enough to be read" * 30)
    with pytest.raises(spectrum.ConfigurationError) as info:
        Client(project_id="p", project_secret="s", env={}, state=f"sqlite:///{path}")
    assert str(path) in str(info.value)


def test_a_read_only_state_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "state.db"
    SQLiteStore(path).close()
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    folder.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    os.chmod(tmp_path, 0o755)
    script = (
        "import spectrum_sync\n"
        "try:\n"
        f"    spectrum_sync.Client(project_id='p', project_secret='s', env={{}}, "
        f"state='sqlite:///{path}')\n"
        "except spectrum_sync.ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    # Root ignores file modes: without the capabilities that let it, it obeys them.
    demote = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
    command = [*(demote if os.geteuid() == 0 else []), sys.executable, "-c", script]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert str(path) in proc.stdout and "read-only" in proc.stdout, proc.stdout
