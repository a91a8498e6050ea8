"""Shared helpers for the benchmarks: an emulator in its own process, alternated rounds,
figures with their spread.

Every benchmark compares the library with a baseline measured in the same run (raw generated
stubs on the same kind of channel, a plain dict, importing grpc alone), alternating rounds so
that machine noise hits both sides. Results are ratios, never absolute thresholds.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

T = TypeVar("T")

LINE = "+15550000001"
PEER = "+15551111111"


#: The CA to trust per emulator URL (a TLS emulator's admin API is HTTPS too).
_CONTEXTS: dict[str, ssl.SSLContext] = {}
#: The process of each server this module started, by its URL (see :func:`servers_apart`).
_SERVER_PIDS: dict[str, int] = {}


@contextmanager
def emulator_process(lines: Sequence[str] = (LINE,),
                     tls: tuple[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Run ``spectrum-sync emulator`` in a child process; yields the env it printed.
    ``tls``: (certificate, key) PEM files to serve TLS with."""
    extra = ["--tls-cert", tls[0], "--tls-key", tls[1]] if tls else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "spectrum_sync.emulator.cli", "--plan", "dedicated",
         "--lines", ",".join(lines), "--daily-message-limit", "100000000",
         "--daily-new-conversation-limit", "100000000", "--heartbeat", "5", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        env: dict[str, str] = {}
        assert proc.stdout is not None
        needed = {"SPECTRUM_CLOUD_URL", "SPECTRUM_IMESSAGE_ADDRESS", "SPECTRUM_PROJECT_ID",
                  "SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE", "SPECTRUM_PROJECT_SECRET",
                  "SPECTRUM_IMESSAGE_TLS"}
        while not needed <= set(env):
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("the emulator process exited early")
            name, _, value = line.removeprefix("export ").strip().partition("=")
            env[name] = value.strip("'")
        if tls:
            env["SPECTRUM_TLS_CA_FILE"] = tls[0]
            _CONTEXTS[env["SPECTRUM_CLOUD_URL"]] = ssl.create_default_context(cafile=tls[0])
        _SERVER_PIDS[env["SPECTRUM_CLOUD_URL"]] = proc.pid
        yield env
    finally:
        _SERVER_PIDS.pop(env.get("SPECTRUM_CLOUD_URL", ""), None)
        proc.terminate()
        proc.wait(10)


@contextmanager
def certificate() -> Iterator[tuple[str, str]]:
    """A self-signed certificate for localhost and 127.0.0.1: (certificate, key) paths."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        cert, key = f"{folder}/cert.pem", f"{folder}/key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
        yield cert, key


def _context(url: str) -> ssl.SSLContext | None:
    return next((c for base, c in _CONTEXTS.items() if url.startswith(base)), None)


@contextmanager
def redis_process() -> Iterator[str | None]:
    """A throwaway ``redis-server`` (no persistence) on a free port: yields its URL, or None
    when redis-server or the ``redis`` package is missing (the Redis figures are skipped)."""
    import importlib.util
    import shutil
    import socket
    import tempfile

    binary = shutil.which("redis-server")
    if binary is None or importlib.util.find_spec("redis") is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.05)
            url = f"redis://127.0.0.1:{port}/0"
            _SERVER_PIDS[url] = proc.pid
            yield url
        finally:
            _SERVER_PIDS.pop(f"redis://127.0.0.1:{port}/0", None)
            proc.terminate()
            proc.wait(10)


def post(url: str, body: Any = None, auth: tuple[str, str] | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    data = json.dumps({} if body is None else body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=120, context=_context(url)) as resp:
        return json.loads(resp.read())


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30, context=_context(url)) as resp:
        return json.loads(resp.read())


def line_token(env: dict[str, str], phone: str = LINE) -> str:
    """Exchange credentials the way any client does; the token of ``phone``'s line."""
    pid, secret = env["SPECTRUM_PROJECT_ID"], env["SPECTRUM_PROJECT_SECRET"]
    data = post(f"{env['SPECTRUM_CLOUD_URL']}/projects/{pid}/imessage/tokens", auth=(pid, secret))
    grant = data["data"]
    instance = next(i for i, n in grant["numbers"].items() if n == phone)
    return str(grant["auth"][instance])


def _threads(pid: int | str) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:  # no /proc (not Linux), or the process ended
        return []


def _set_affinity(threads: Sequence[int], cores: set[int]) -> None:
    for tid in threads:
        with suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, cores)


def can_set_servers_apart() -> bool:
    """Whether :func:`servers_apart` can give the servers a core of their own here (Linux,
    at least two cores)."""
    return hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2


@contextmanager
def servers_apart(*urls: str) -> Iterator[None]:
    """Inside the block, the servers at ``urls`` (an emulator's ``SPECTRUM_CLOUD_URL``, a
    Redis URL, started by this module) run on one core and this process on the others, as
    a remote service would be: then the consumer's own CPU does not slow the server
    that feeds it. Every thread of each side is moved (the threads they start meanwhile
    inherit it), and all are given back their cores at the end. Without
    :func:`can_set_servers_apart`, nothing is moved."""
    if not can_set_servers_apart():
        yield
        return
    everywhere = os.sched_getaffinity(0)
    server_core = {min(everywhere)}
    pids = [_SERVER_PIDS[url] for url in urls]
    try:
        for pid in pids:
            _set_affinity(_threads(pid), server_core)
        _set_affinity(_threads("self"), everywhere - server_core)
        yield
    finally:
        for pid in pids:
            _set_affinity(_threads(pid), everywhere)
        _set_affinity(_threads("self"), everywhere)


def run_apart(run: Callable[[], T], *urls: str) -> Callable[[], T]:
    """``run``, made to run inside :func:`servers_apart` ``(*urls)`` (a round for
    :func:`alternate`)."""

    def run_with_servers_apart() -> T:
        with servers_apart(*urls):
            return run()

    return run_with_servers_apart


def alternate(rounds: int, *runs: Callable[[], T]) -> list[list[T]]:
    """Run each measurement once per round, in turn; returns the samples of each."""
    samples: list[list[T]] = [[] for _ in runs]
    for _ in range(rounds):
        for index, run in enumerate(runs):
            samples[index].append(run())
    return samples


def alternate_named(rounds: int, runs: dict[str, Callable[[], T]]) -> dict[str, list[T]]:
    """:func:`alternate` over named measurements: the samples of each, by name."""
    return dict(zip(runs, alternate(rounds, *runs.values())))


def timed(action: Callable[[], object], count: int) -> float:
    """Seconds per call of ``action`` over ``count`` calls."""
    start = time.perf_counter()
    for _ in range(count):
        action()
    return (time.perf_counter() - start) / count


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


class Figure:
    """A measured value: the median over rounds, with min and max, and how to show it."""

    def __init__(self, name: str, samples: Sequence[float], unit: str = "x",
                 target: str = "", scale: float = 1.0) -> None:
        self.name = name
        self.samples = [s * scale for s in samples]
        self.unit = unit
        self.target = target

    @property
    def value(self) -> float:
        return median(self.samples)

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.value, "min": min(self.samples), "max": max(self.samples),
                "unit": self.unit, "target": self.target, "rounds": len(self.samples)}

    def row(self) -> tuple[str, str]:
        spread = f"[{min(self.samples):.3g} .. {max(self.samples):.3g}]"
        target = f"  ({self.target})" if self.target else ""
        return self.name, f"{self.value:10.3f} {self.unit:<10} {spread}{target}"


def ratios(name: str, ours: Sequence[float], baseline: Sequence[float],
           target: str = "") -> Figure:
    """Per-round ratios ours/baseline (rounds were alternated, so each pair shares noise)."""
    return Figure(name, [a / b for a, b in zip(ours, baseline)], "x", target)


def report(title: str, rows: Sequence[tuple[str, str]]) -> None:
    print(f"\n{title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
