"""Helpers of the integration tests: environments, HTTP clients, polling, records."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support.tools import in_ci

from spectrum_sync import webhooks
from spectrum_sync.emulator import Emulator

APPS = Path(__file__).parent / "apps"
ROOT = Path(__file__).resolve().parents[2]
LINES = ["+15550000001", "+15550000002"]
ALICE, BOB = "+15551111111", "+15552222222"


def require_package(module: str, extra: str) -> None:
    """Skip (fail in CI) when an optional package the test runs is not installed."""
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed: pip install -e '.[{extra}]' (.ci/run does)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def base_env(emu: Emulator | None = None, **extra: str) -> dict[str, str]:
    """The test's environment without any SPECTRUM_ variable, plus the emulator's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTRUM_")}
    env["PYTHONPATH"] = os.pathsep.join([str(APPS), str(ROOT), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    if emu is not None:
        env.update(emu.env())
    env.update(extra)
    return env


def python_tool(name: str) -> list[str]:
    """How to run a Python tool of this interpreter (``python -m gunicorn``)."""
    return [sys.executable, "-m", name]


def post_json(port: int, path: str, payload: dict[str, Any], *, timeout: float = 30.0,
              ) -> tuple[int, Any]:
    """One POST on a fresh connection: (status, decoded JSON or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(payload),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode(errors="replace")
    finally:
        conn.close()


def post_concurrently(port: int, path: str, payloads: Sequence[dict[str, Any]], *,
                      threads: int = 60) -> list[tuple[int, Any]]:
    """POST every payload, ``threads`` at a time; answers in the payloads' order."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda p: post_json(port, path, p), payloads))


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0,
               interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON lines the test apps' handlers appended."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def simulate_traffic(emu: Emulator) -> str:
    """A mix of every kind of inbound event; returns the guid of the message whose handler
    fails the first time."""
    first = emu.simulate_inbound(ALICE, "hello", line=LINES[0])
    emu.simulate_reaction(ALICE, first, "👍", line=LINES[0])
    flaky = emu.simulate_inbound(BOB, "fail-once please", line=LINES[1])
    emu.simulate_inbound(ALICE, "a reply", reply_to=first, line=LINES[0])
    emu.simulate_inbound(ALICE, "a file", attachment=("a.png", b"\x89PNG"), line=LINES[0])
    emu.simulate_group_change("any;+;club", "rename", actor=ALICE, name="Club", line=LINES[1])
    emu.simulate_group_change("any;+;club", "participant_added", actor=ALICE,
                              participant=BOB, line=LINES[1])
    for n in range(20):
        emu.simulate_inbound(f"+1555400{n:04d}", f"burst {n}", line=LINES[n % 2])
    return flaky


def check_handled_once(emu: Emulator, record: Path, flaky: str) -> None:
    assert emu.wait_for_webhooks(60), emu.webhook_deliveries
    deliveries = emu.webhook_deliveries
    assert len(deliveries) == 27
    assert all(d.delivered for d in deliveries), [d for d in deliveries if not d.delivered]
    records = read_records(record)
    handled = [r["id"] for r in records if "id" in r]
    assert sorted(handled) == sorted(d.event_id for d in deliveries)  # each exactly once
    assert [r["failed"] for r in records if "failed" in r] == [flaky]
    [retried] = [d for d in deliveries if d.event_id == flaky]
    assert (retried.attempts, retried.last_status) == (2, 200)
    kinds = {r["content_type"] for r in records if "id" in r}
    assert {"text", "reaction", "reply", "group", "rename", "addMember"} <= kinds


def replay(port: int, path: str, message_id: str, count: int, secret: str) -> list[int]:
    """Deliver an already handled message again, signed by hand (as a retry would)."""
    body = json.dumps({"event": "messages", "message": {
        "id": message_id, "platform": "iMessage", "space": {"id": "any;-;+15551111111"},
        "content": {"type": "text", "text": "again"}}}).encode()
    statuses = []
    for _ in range(count):
        stamp = str(int(time.time()))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", path, body=body, headers={
            "Content-Type": "application/json", "X-Spectrum-Timestamp": stamp,
            "X-Spectrum-Signature": webhooks.sign(secret, stamp, body)})
        statuses.append(conn.getresponse().status)
        conn.close()
    return statuses
