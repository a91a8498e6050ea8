"""The main job: ``spectrum-sync demo`` runs the whole client surface and exits 0."""

from __future__ import annotations

import io
import re
import subprocess
import sys

from support.factories import EmulatorFactory

from spectrum_sync._demo import run_demo

STEPS = (
    "alice = client.user('+1 (555) 111-1111')", "User +15551111111 (US, iMessage)",
    "bob = client.user('  Bob@Example.com ')", "User bob@example.com",
    "dm = client.space.create(alice)", "client.space.get(dm.id)",
    "sent = dm.send('Hi Alice')", "sent.edit('Hi Alice!')", "text now 'Hi Alice!'",
    "sent.react('❤️')", "sent.unreact('❤️')", "with dm.typing(): ...", "oops.unsend()",
    "dm.mark_read()", "with client.messages() as inbox:", "(emulator) Alice answers",
    "for msg in inbox:", "+15551111111: 'Hello back!', a reply to ",
    "msg.reply('got it')", "client.health() while receiving", "client.quota(",
    "client.user_cache_stats()",
)


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spectrum_sync", *args],
                          capture_output=True, text=True, timeout=120)


def test_demo_runs_every_step_with_timings() -> None:
    proc = demo("demo")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for step in (*STEPS, "group = client.space.create([alice, bob])", "group.participants()",
                 "group.send('Welcome, both of you')"):
        assert step in out, f"missing step {step!r} in:\n{out}"
    timed = [line for line in out.splitlines() if re.match(r"^ +\d+\.\d ms  \S", line)]
    assert len(timed) >= len(STEPS)
    # An idle client reads "idle" (not receiving), never "stopped".
    [health] = [line for line in timed if re.search(r"ms  client\.health\(\)  ", line)]
    assert health.count(" idle") == 2 and "stopped" not in out
    assert re.search(r"^demo finished in \d+\.\d\d s: every step worked \(\d+ steps\)$", out,
                     re.MULTILINE)
    assert proc.stderr == ""


def test_demo_on_the_shared_plan_shows_what_it_refuses() -> None:
    proc = demo("--emulator", "demo", "--plan", "shared")  # --emulator: redundant, accepted
    assert proc.returncode == 0, proc.stderr
    for step in STEPS:
        assert step in proc.stdout, f"missing step {step!r} in:\n{proc.stdout}"
    assert "UnsupportedError, as expected" in proc.stdout
    assert "every step worked" in proc.stdout


def test_the_emulator_demo_option_runs_the_same_demo() -> None:
    proc = demo("emulator", "--demo", "--lines", "+15550000001,+15550000002")
    assert proc.returncode == 0, proc.stderr
    assert "every step worked" in proc.stdout and "group.send(" in proc.stdout


def test_a_failing_step_is_one_line_and_status_1(make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=["+15550000001"], heartbeat_interval=30.0)
    emu.fail_next(1, code="PERMISSION_DENIED", retryable=False, method="EditMessage")
    out, err = io.StringIO(), io.StringIO()
    assert run_demo(emu, out, err=err) == 1
    assert err.getvalue().count("\n") == 1
    assert err.getvalue().startswith("demo failed at sent.edit('Hi Alice!'): ")
    assert "injected fault" in err.getvalue()
    assert "every step worked" not in out.getvalue()
    assert "sent = dm.send('Hi Alice')" in out.getvalue()  # the steps before it ran
