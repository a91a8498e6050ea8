"""``spectrum-sync lines``: plan, lines and today's quota usage."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import ALICE, LINES, assert_error, base_env, run_cli

from spectrum_sync.emulator import Emulator


def test_lines_table(emu: Emulator, env: dict[str, str]) -> None:
    proc = run_cli("lines", env=env)
    assert proc.returncode == 0, proc.stderr
    header, columns, *rows = proc.stdout.splitlines()
    assert header.startswith("plan: dedicated, 2 line(s); quota usage on 20")
    assert columns.split()[:4] == ["PHONE", "INSTANCE", "ADDRESS", "TLS"]
    assert len(rows) == len(LINES)
    for row, line in zip(rows, emu.lines):
        assert row.split() == [line.number, line.instance_id, emu.grpc_address, "no",
                               "0/5000", "0/50"]


def test_lines_shows_the_usage_counted_in_a_shared_state(emu: Emulator, env: dict[str, str],
                                                         tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'app.db'}"
    sent = run_cli("send", "--state", state, "--to", ALICE, "--phone", LINES[1], "hi",
                   env=env)
    assert sent.returncode == 0, sent.stderr
    proc = run_cli("lines", "--state", state, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["plan"] == "dedicated"
    usage = {line["phone"]: line["quota"] for line in result["lines"]}
    assert usage[LINES[1]]["messages"] == 1 and usage[LINES[1]]["new_conversations"] == 1
    assert usage[LINES[0]]["messages"] == 0
    assert usage[LINES[1]]["messages_limit"] == 5000
    assert {line["instance_id"] for line in result["lines"]} == {
        line.instance_id for line in emu.lines}


def test_lines_of_a_throwaway_emulator() -> None:
    proc = run_cli("--emulator", "--emulator-plan", "shared", "lines", env=base_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("plan: shared, 1 line(s)")
    assert "throwaway emulator (shared plan" in proc.stderr
    custom = run_cli("lines", "--emulator", "--emulator-lines", "+15557770001", "--json",
                     env=base_env())
    assert [line["phone"] for line in json.loads(custom.stdout)["lines"]] == ["+15557770001"]
    assert_error(run_cli("lines", "--emulator", "--emulator-lines", "bogus", env=base_env()),
                 2, "--emulator-lines")


def test_lines_errors(emu: Emulator) -> None:
    assert_error(run_cli("lines", env=base_env()), 2, "missing credentials")
    wrong = base_env({**emu.env(), "SPECTRUM_PROJECT_ID": "someone-else"})
    assert_error(run_cli("lines", env=wrong), 1)
    unreachable = base_env({**emu.env(), "SPECTRUM_CLOUD_URL": "http://127.0.0.1:1"})
    assert_error(run_cli("lines", env=unreachable), 1, "cannot reach")
