"""Several receiving processes sharing lines on Redis, for the scale-out and soak tests:
start them, feed them inbound traffic, freeze (SIGSTOP) or kill them, and judge the result.

Each receiver is a real ``spectrum_sync`` client in its own process; its handler writes one
row per message, ``pid start end phone text`` (wall-clock seconds, comparable between the
processes of one host), and its log records go to a file beside it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import attrs

from .emulator_process import EmulatorProcess

__all__ = ["Fleet", "Verdict", "judge"]

RECEIVER = textwrap.dedent("""
    import logging, os, sys, time, spectrum_sync as spectrum
    log_path, ttl, work = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    logging.basicConfig(filename=log_path + ".log", level=logging.INFO,
                        format="%(created).6f %(levelname)s %(name)s %(message)s")
    out = open(log_path, "a", buffering=1)
    options = spectrum.ReceiveOptions(lease_ttl=ttl, backoff_initial=0.05, backoff_max=0.5)
    with spectrum.Client(state=os.environ["STATE"], receive=options) as client:
        @client.on_message
        def handle(msg):
            start = time.time()
            time.sleep(work)  # some work: two handlers of one line at once would overlap
            out.write(f"{os.getpid()} {start:.6f} {time.time():.6f} {msg.space.phone} "
                      f"{msg.text}\\n")
        print("ready", flush=True)
        client.run_forever()
""")


@attrs.define
class Verdict:
    """What a run of a fleet came to."""

    sent: int
    lost: int
    duplicates: int
    #: Messages handled by two processes at once (their handlers overlapped in time on
    #: one line), not counting a handler that was running when its process was frozen.
    at_once: int

    def __str__(self) -> str:
        return (f"{self.sent} sent, {self.lost} lost, {self.duplicates} duplicates, "
                f"{self.at_once} handled by two at once")


def judge(sent: list[str], rows: list[tuple[str, float, float, str, str]],
          frozen: list[tuple[str, float]]) -> Verdict:
    """Judge handled ``rows`` (pid, start, end, phone, text) against what was ``sent``;
    ``frozen`` lists (pid, moment) of each SIGSTOP: a handler running at that moment
    cannot be stopped by the library and is not counted as handled at once."""
    rows = [row for row in rows if not row[4].startswith("warm-up-")]
    counts = Counter(text for *_, text in rows)
    lost = sum(1 for text in sent if counts[text] == 0)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)

    def in_flight_at_freeze(pid: str, start: float, end: float) -> bool:
        return any(p == pid and start <= moment <= end for p, moment in frozen)

    by_phone: dict[str, list[tuple[float, float, str, str]]] = defaultdict(list)
    for pid, start, end, phone, text in rows:
        if not in_flight_at_freeze(pid, start, end):
            by_phone[phone].append((start, end, pid, text))
    overlapping: set[str] = set()
    for spans in by_phone.values():
        spans.sort()
        for i, (_start, end, pid, text) in enumerate(spans):
            for other_start, _end, other_pid, other_text in spans[i + 1:]:
                if other_start >= end:
                    break
                if other_pid != pid:
                    overlapping.update((text, other_text))
    return Verdict(len(sent), lost, duplicates, len(overlapping))


class Fleet:
    """``count`` receiver processes on ``state`` (a Redis URL) against an emulator."""

    def __init__(self, emu: EmulatorProcess, state: str, folder: Path, count: int, *,
                 ttl: float, work: float = 0.005) -> None:
        self.emu = emu
        self.env = {**emu.client_env(), "STATE": state}
        self.folder = folder
        self.ttl = ttl
        self.work = work
        self.procs: list[subprocess.Popen[str]] = []
        self.frozen: list[tuple[str, float]] = []
        self.sent: list[str] = []
        self._stop = threading.Event()
        self._injector: threading.Thread | None = None
        for _ in range(count):
            self.spawn()

    def spawn(self) -> subprocess.Popen[str]:
        """One more receiver; returns once it is about to receive."""
        path = self.folder / f"receiver-{len(self.procs)}.txt"
        proc = subprocess.Popen(
            [sys.executable, "-c", RECEIVER, str(path), str(self.ttl), str(self.work)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        self.procs.append(proc)
        return proc

    @property
    def rows(self) -> list[tuple[str, float, float, str, str]]:
        found = []
        for path in sorted(self.folder.glob("receiver-*.txt")):
            for row in path.read_text().splitlines():
                parts = row.split()
                if len(parts) == 5:  # a row cut by SIGKILL is no handled message
                    found.append((parts[0], float(parts[1]), float(parts[2]), parts[3],
                                  parts[4]))
        return found

    def logs(self) -> str:
        """Every receiver's log records."""
        return "".join(path.read_text() for path in sorted(self.folder.glob("*.txt.log")))

    def holders(self, namespace: str, redis_url: str) -> dict[str, str | None]:
        """Line number -> the receiver id holding its lease now (None: nobody)."""
        import spectrum_sync as spectrum

        store = spectrum.RedisStore(redis_url, namespace=namespace)
        try:
            lines = self.emu.admin("state", method="GET")["lines"]
            return {line["number"]: store.lease_holder(f"line:{line['instance_id']}")
                    for line in lines}
        finally:
            store.close()

    def holder_pid(self, phone: str, redis_url: str) -> int | None:
        """The pid of the receiver holding a line's lease, if any."""
        holder = self.holders(self.emu.env["SPECTRUM_PROJECT_ID"], redis_url).get(phone)
        return None if holder is None else int(holder.split(":")[1])

    def warm_up(self, lines: tuple[str, ...], within: float = 30.0) -> None:
        """Send a message to each line, again every second, until one per line was
        handled: every line is then read (a new receiver starts live: what was sent before
        its reader joined is not delivered). Not part of what :meth:`settle` judges."""
        waiting = dict(enumerate(lines))
        deadline = time.monotonic() + within
        attempt = 0
        while waiting and time.monotonic() < deadline:
            for index, line in waiting.items():
                self.emu.inbound("+15551111111", f"warm-up-{index}-{attempt}", line=line)
            attempt += 1
            until = time.monotonic() + 1.0
            while waiting and time.monotonic() < until:
                handled = {text.rsplit("-", 1)[0] for *_, text in self.rows}
                waiting = {i: ln for i, ln in waiting.items()
                           if f"warm-up-{i}" not in handled}
                time.sleep(0.05)
        assert not waiting, f"lines {sorted(waiting.values())} not read within {within} s"

    def inject(self, lines: tuple[str, ...], gap: float) -> None:
        """Start sending inbound messages, one every ``gap`` s, the lines in turn."""

        def run() -> None:
            n = 0
            while not self._stop.is_set():
                text = f"m{n}"
                try:
                    self.emu.inbound("+15551111111", text, line=lines[n % len(lines)])
                except OSError:
                    time.sleep(0.1)
                    continue
                self.sent.append(text)
                n += 1
                time.sleep(gap)

        self._injector = threading.Thread(target=run, daemon=True)
        self._injector.start()

    def stop_injecting(self) -> None:
        self._stop.set()
        if self._injector is not None:
            self._injector.join(60)

    def freeze(self, proc: subprocess.Popen[str], seconds: float) -> None:
        """SIGSTOP a receiver for ``seconds``, then SIGCONT."""
        self.frozen.append((str(proc.pid), time.time()))
        proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            proc.send_signal(signal.SIGCONT)

    def by_pid(self, pid: int) -> subprocess.Popen[str]:
        return next(p for p in self.procs if p.pid == pid)

    def settle(self, within: float = 90.0) -> Verdict:
        """Wait until every sent message was handled (or ``within`` s passed); the verdict."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            handled = {text for *_, text in self.rows}
            if all(text in handled for text in self.sent):
                break
            time.sleep(0.2)
        time.sleep(1.0)  # late duplicates, if any, show up too
        return judge(list(self.sent), self.rows, self.frozen)

    def close(self) -> None:
        self.stop_injecting()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def pause(pid: int, seconds: float) -> None:
    """SIGSTOP any process (e.g. redis-server) for ``seconds``, then SIGCONT."""
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)
