"""Several processes, one project: shared routing, exact quotas, receivers sharing lines
with leases and failing over (real redis-server, emulator in its own process)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from support.emulator_process import EmulatorProcess
from support.forking import threads_named
from support.receiving import ALICE, LINE, LINE_2, wait_until
from support.redis_server import RedisServer

import spectrum_sync as spectrum


def _run(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_routing_learned_in_one_process_is_used_by_another(
    emu_process: EmulatorProcess, redis_server: RedisServer
) -> None:
    env = {**emu_process.client_env(), "STATE": redis_server.url}
    made = _run("""
        import os, spectrum_sync
        with spectrum_sync.Client(state=os.environ["STATE"]) as client:
            space = client.space.create(["+15551111111", "+15552222222"], phone="+15550000002")
            print(space.id)
    """, env)
    assert made.returncode == 0, made.stderr
    guid = made.stdout.strip()
    with spectrum.Client(env=emu_process.env, state=redis_server.url) as client:
        assert client.space.get(guid).phone == LINE_2  # two lines, no phone= needed


RACER = """
    import os, sys, spectrum_sync as spectrum
    limits = spectrum.QuotaLimits(new_conversations_per_day=10)
    sent = refused = 0
    with spectrum.Client(state=os.environ["STATE"], quota_limits=limits) as client:
        for n in range(10):
            space = client.space.get(f"any;-;+1555{sys.argv[1]}{n:06d}", phone="+15550000001")
            try:
                space.send("hello")
                sent += 1
            except spectrum.QuotaExceeded:
                refused += 1
    print(sent, refused)
"""


def test_four_processes_never_pass_a_client_side_limit_together(
    emu_process: EmulatorProcess, redis_server: RedisServer
) -> None:
    env = {**emu_process.client_env(), "STATE": redis_server.url}
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(RACER), str(n)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(4)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    sent = sum(int(out.split()[0]) for out, _ in results)
    refused = sum(int(out.split()[1]) for out, _ in results)
    assert (sent, refused) == (10, 30)
    texts = [m for m in emu_process.admin("messages", method="GET")["messages"]
             if m["text"] == "hello"]
    assert len(texts) == 10


RECEIVER = """
    import logging, os, sys, time, spectrum_sync as spectrum
    # The library's log on stderr (a file the test shows when messages go missing).
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(created).6f %(name)s %(levelname)s %(message)s")
    out = open(sys.argv[1], "a", buffering=1)
    options = spectrum.ReceiveOptions(lease_ttl=3, backoff_initial=0.05, backoff_max=0.5)
    with spectrum.Client(state=os.environ["STATE"], receive=options) as client:
        @client.on_message
        def handle(msg):
            start = time.time()
            time.sleep(0.005)  # some work: long enough to see two handlers overlap
            out.write(f"{os.getpid()} {start:.6f} {time.time():.6f} {msg.space.phone} "
                      f"{msg.text}\\n")
        print("ready", flush=True)
        client.run_forever()
"""


def _holders(emu: EmulatorProcess, redis_url: str) -> dict[str, str | None]:
    store = spectrum.RedisStore(redis_url, namespace=emu.env["SPECTRUM_PROJECT_ID"])
    try:
        lines = emu.admin("state", method="GET")["lines"]
        return {line["number"]: store.lease_holder(f"line:{line['instance_id']}")
                for line in lines}
    finally:
        store.close()


def _diagnosis(procs: list[subprocess.Popen[str]], logs: list[Path], errs: list[Any],
               timeline: list[str]) -> str:
    """What each receiver did (the span of each line it handled, its library log) and what
    the test did, for a failure message."""
    parts = ["", "test: " + "; ".join(timeline)]
    for proc, log, err in zip(procs, logs, errs):
        spans: dict[str, list[float]] = {}
        rows = log.read_text().splitlines() if log.exists() else []
        for row in rows:
            _pid, start, _end, phone, _text = row.split()
            first_last = spans.setdefault(phone, [float(start), float(start)])
            first_last[1] = float(start)
        err.flush()
        library_log = Path(err.name).read_text().splitlines()
        parts.append(f"receiver {proc.pid} (exit {proc.poll()}): {len(rows)} handled, "
                     + ", ".join(f"{phone} {a:.3f}..{b:.3f}" for phone, (a, b) in spans.items()))
        parts.extend(f"  {line}" for line in library_log[-40:])
    return "\n".join(parts)


@pytest.mark.timeout(240)
def test_receivers_share_lines_fail_over_and_lose_nothing(
    emu_process: EmulatorProcess, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {**emu_process.client_env(), "STATE": redis_server.url}
    logs = [tmp_path / f"receiver-{n}.log" for n in range(3)]
    errs = [open(tmp_path / f"receiver-{n}.err", "w") for n in range(3)]  # noqa: SIM115
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(RECEIVER), str(log)],
                              env=env, stdout=subprocess.PIPE, stderr=err, text=True)
             for log, err in zip(logs, errs)]
    timeline: list[str] = []  # what the test did, when (for the failure message)
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        # Both lines taken, by two different receivers (the third stands by).
        assert wait_until(lambda: None not in _holders(emu_process, redis_server.url).values()
                          and len(set(_holders(emu_process, redis_server.url).values())) == 2,
                          20), _holders(emu_process, redis_server.url)

        def handled() -> Counter[str]:
            seen: Counter[str] = Counter()
            for log in logs:
                if log.exists():
                    seen.update(line.split()[4] for line in log.read_text().splitlines())
            return seen

        # A receiver without a cursor starts live: a message logged before it took its
        # line's head is not for it. So a probe per line, resent every half second, until
        # each line has delivered one: then both holders read, and every message from here
        # on must reach a handler.
        waiting = {LINE, LINE_2}
        for attempt in range(60):
            for line in waiting:
                emu_process.inbound(ALICE, f"probe-{line}-{attempt}", line=line)
            time.sleep(0.5)
            seen = handled()
            waiting = {line for line in waiting
                       if not any(text.startswith(f"probe-{line}-") for text in seen)}
            if not waiting:
                break
        assert not waiting, f"no probe handled on {sorted(waiting)}" + _diagnosis(
            procs, logs, errs, timeline)
        timeline.append(f"{time.time():.6f} both lines deliver")

        total = 600
        sent: list[str] = []
        sent_at: dict[str, str] = {}  # text -> "line at time"

        def inject() -> None:
            for n in range(total):
                text, line = f"m{n}", (LINE, LINE_2)[n % 2]
                while True:
                    try:
                        emu_process.inbound(ALICE, text, line=line)
                        break
                    except OSError:
                        time.sleep(0.1)
                sent.append(text)
                sent_at[text] = f"{line} at {time.time():.6f}"
                time.sleep(0.02)

        injector = threading.Thread(target=inject)
        injector.start()
        by_pid = {str(p.pid): p for p in procs}
        killed: list[str] = []
        for when in (3.0, 8.0):
            time.sleep(when - (3.0 if killed else 0.0))
            holders = {h.split(":")[1] for h in _holders(emu_process, redis_server.url).values()
                       if h}
            victim = next(pid for pid in holders if pid in by_pid and pid not in killed)
            timeline.append(f"{time.time():.6f} SIGKILL {victim} (holders {sorted(holders)})")
            by_pid[victim].send_signal(signal.SIGKILL)  # a holder dies mid-stream
            by_pid[victim].wait(10)
            killed.append(victim)
            if len(killed) == 1:
                timeline.append(f"{time.time():.6f} Redis restart")
                redis_server.restart()  # and Redis restarts while its line fails over
                timeline.append(f"{time.time():.6f} Redis back")
        injector.join(120)

        if not wait_until(lambda: all(text in handled() for text in sent), 90):
            missing = [t for t in sent if t not in handled()]
            pytest.fail(f"{len(missing)} never handled: "
                        + ", ".join(f"{t} ({sent_at[t]})" for t in missing[:20])
                        + _diagnosis(procs, logs, errs, timeline))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for err in errs:
            err.close()

    counts = handled()
    assert len(sent) == total and all(counts[text] >= 1 for text in sent)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    print(f"\n{len(sent)} messages, {duplicates} duplicates")
    assert duplicates <= 2 * 20, duplicates  # only what was in flight at the two kills
    # No line was handled by two live processes at once.
    intervals: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for log in logs:
        for row in log.read_text().splitlines():
            pid, start, end, phone, _ = row.split()
            intervals[phone].append((float(start), float(end), pid))
    for phone, spans in intervals.items():
        spans.sort()
        for (_s1, e1, p1), (s2, _e2, p2) in zip(spans, spans[1:]):
            assert p1 == p2 or s2 >= e1, f"{phone}: {p1} and {p2} overlapped"


def test_redis_down_sends_go_on_and_receiving_catches_up(
    emu_process: EmulatorProcess, redis_server: RedisServer, caplog: Any
) -> None:
    with spectrum.Client(env=emu_process.env, state=redis_server.url,
                         receive=spectrum.ReceiveOptions(lease_ttl=3)) as client:
        space = client.space.create(ALICE, phone=LINE)
        with client.messages() as inbox:
            assert wait_until(lambda: {h.state for h in client.health().values()} == {"live"})
            redis_server.stop()
            assert space.send("while Redis is down").text  # sends go on
            assert client.health()[LINE].store_error
            emu_process.inbound(ALICE, "received while Redis is down", line=LINE)
            # Delivered while the lease lasts, else held back (another receiver might have
            # the line by now) until the lease is renewed: never lost.
            redis_server.start()
            got = next(inbox)
            assert got.text == "received while Redis is down"
            emu_process.inbound(ALICE, "after Redis is back", line=LINE)
            assert next(inbox).text == "after Redis is back"
    assert "state store" in caplog.text


def test_clients_closed_one_after_another_leave_no_store_threads(
    emu_process: EmulatorProcess, redis_server: RedisServer
) -> None:
    # A task per job, each with its own client on Redis: each client's store threads (up
    # to 8, started by concurrent sends) used to outlive its close() for good.
    def store_threads() -> int:
        return len(threads_named("spectrum-store"))

    before = store_threads()
    for job in range(3):
        with spectrum.Client(env=emu_process.env, state=redis_server.url) as client:
            space = client.space.create(ALICE, phone=LINE)
            senders = [threading.Thread(target=space.send, args=(f"job {job} #{n}",))
                       for n in range(8)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            assert store_threads() > before  # the sends' bookkeeping ran on them
        assert store_threads() == before, f"after job {job}"
