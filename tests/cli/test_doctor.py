"""``spectrum-sync doctor`` as an operator runs it: each check passes against the emulator,
and each kind of broken set-up is named with its fix and a non-zero exit status."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis
from cli_helpers import ALICE, base_env, run_cli
from support.redis_server import RedisServer

import spectrum_sync as spectrum
from spectrum_sync.emulator import Emulator


def _checks(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    return {check["name"]: check for check in report["checks"]}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_every_check_passes_against_the_emulator(env: dict[str, str]) -> None:
    proc = run_cli("doctor", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    names = [line.split()[1] for line in lines[:-1]]
    assert names == ["credentials", "clock", "tls", "line", "line", "quota", "quota",
                     "cursors", "store"]
    assert all(line.startswith("ok ") for line in lines[:-1]), proc.stdout
    assert "dedicated plan, 2 lines" in lines[0]
    assert lines[-1] == "9 of 9 checks passed"


def test_json_report(env: dict[str, str]) -> None:
    proc = run_cli("doctor", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    checks = _checks(proc)
    assert set(checks) == {"credentials", "clock", "tls", "line +15550000001",
                           "line +15550000002", "quota +15550000001", "quota +15550000002",
                           "cursors", "store"}
    assert all(check["ok"] and check["fix"] is None for check in checks.values())


def test_wrong_secret_is_named_with_its_fix(env: dict[str, str]) -> None:
    proc = run_cli("doctor", "--json", env={**env, "SPECTRUM_PROJECT_SECRET": "wrong"})
    assert proc.returncode == 1
    checks = _checks(proc)
    assert not checks["credentials"]["ok"]
    assert "SPECTRUM_PROJECT_SECRET" in checks["credentials"]["fix"]
    assert "wrong" not in proc.stdout  # never a secret in the report
    assert checks["store"]["ok"]  # the store is checked all the same


def test_unreachable_host_is_named(env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    proc = run_cli("doctor", env={**env, "SPECTRUM_CLOUD_URL": url}, timeout=60)
    assert proc.returncode == 1
    first, fix = proc.stdout.splitlines()[:2]
    assert first.startswith("FAIL  credentials") and "cannot reach" in first, proc.stdout
    assert url in fix and "reachable" in fix


def test_missing_credentials_are_a_failed_check() -> None:
    proc = run_cli("doctor", "--json", env=base_env())
    assert proc.returncode == 1
    checks = _checks(proc)
    assert list(checks) == ["configuration"]
    assert "SPECTRUM_PROJECT_ID" in checks["configuration"]["fix"]


def test_a_read_only_store_is_named(env: dict[str, str]) -> None:
    with RedisServer() as server:
        # A replica of a master that does not exist refuses every write: a read-only store.
        redis.Redis.from_url(server.url).execute_command(
            "REPLICAOF", "127.0.0.1", str(_closed_port()))
        proc = run_cli("doctor", "--json", "--state", server.url, env=env)
    assert proc.returncode == 1
    checks = _checks(proc)
    failed = [name for name, check in checks.items() if not check["ok"]]
    assert failed == ["store"], checks
    assert "write failed" in checks["store"]["detail"]
    assert "read-only" in checks["store"]["fix"]


def test_clock_skew_is_measured_against_the_service(emu: Emulator,
                                                    env: dict[str, str]) -> None:
    emu.advance_clock(600)  # the service's clock ten minutes ahead of ours
    proc = run_cli("doctor", "--json", env=env)
    assert proc.returncode == 1
    checks = _checks(proc)
    assert not checks["clock"]["ok"]
    assert "600 s behind" in checks["clock"]["detail"] or "599 s behind" in checks[
        "clock"]["detail"], checks["clock"]
    assert "NTP" in checks["clock"]["fix"]


def test_spent_quota_and_stored_cursors(emu: Emulator, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    limits = spectrum.QuotaLimits(messages_per_day=1)
    with emu.client(state=state, quota_limits=limits) as client:
        client.space.create(client.user(ALICE, resolve=False),
                            phone="+15550000001").send("hi")
        inbox = client.messages()
        emu.simulate_inbound(ALICE, "hello", line="+15550000001")
        next(iter(inbox)).ack()
        inbox.close()
        checks = {check.name: check for check in client.diagnose(timeout=10)}
    assert not checks["quota +15550000001"].ok
    assert "1/1 messages" in checks["quota +15550000001"].detail
    assert "UTC" in (checks["quota +15550000001"].fix or "")
    assert checks["quota +15550000002"].ok
    cursors = checks["cursors"]
    assert cursors.ok and "+15550000001: messages" in cursors.detail
    assert "last written" in cursors.detail and " s ago" in cursors.detail, cursors.detail


def test_without_network_nothing_is_sent(emu: Emulator) -> None:
    with emu.client() as client:
        before = len(emu.requests)
        checks = client.diagnose(network=False)
        assert len(emu.requests) == before
    names = [check.name for check in checks]
    assert names[0] == "credentials" and not any(n.startswith("line ") for n in names)
    assert all(check.ok for check in checks), checks


@pytest.mark.parametrize("plan", ["shared", "dedicated"])
def test_doctor_with_a_throwaway_emulator(plan: str) -> None:
    proc = run_cli("doctor", "--emulator", "--emulator-plan", plan, env=base_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("header", [None, "", "yesterday", "Sun, 99 Foo 2026 99:99:99 GMT",
                                    "Mon, 01 Jan 99999 00:00:00 GMT", "x" * 10_000])
def test_an_odd_date_header_gives_no_skew(header: str | None) -> None:
    from spectrum_sync._transport.token_exchange import _clock_skew

    assert _clock_skew(header) is None


def test_a_date_header_gives_the_skew() -> None:
    import email.utils
    import time

    from spectrum_sync._transport.token_exchange import _clock_skew

    skew = _clock_skew(email.utils.formatdate(time.time() + 100, usegmt=True))
    assert skew is not None and 99 <= skew <= 101
