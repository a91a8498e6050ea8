"""Cheap paths: the import, a cached ``client.user()``, learning routes at scale."""

from __future__ import annotations

import gc
import subprocess
import sys
import time
import timeit

from spectrum_sync import Client, MemoryStore

from _harness import Figure, alternate, ratios


def _run(statement: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - start


def imports(runs: int) -> list[Figure]:
    """``import spectrum_sync`` and the first ``spectrum_sync.Client`` access, against
    importing grpc and protobuf alone (fresh interpreters, alternated, start-up subtracted)."""
    nothing, base, ours = alternate(
        runs, lambda: _run("pass"),
        lambda: _run("import grpc, google.protobuf"),
        lambda: _run("import spectrum_sync; spectrum_sync.Client"))
    return [ratios("import ratio (vs grpc + protobuf)",
                   [o - n for o, n in zip(ours, nothing)],
                   [b - n for b, n in zip(base, nothing)], "<= 1.4")]


def users(env: dict[str, str], rounds: int) -> list[Figure]:
    import phonenumbers

    raw = "+1 (555) 111-1111"
    n = 20_000
    with Client(env=env) as client:
        client.user(raw)  # resolved once (GetAddressInfo), then cached
        cached, parse = alternate(
            rounds, lambda: timeit.timeit(lambda: client.user(raw), number=n) / n,
            lambda: timeit.timeit(lambda: phonenumbers.parse(raw, "US"), number=n // 10)
            / (n // 10))
    return [Figure("cached client.user()", cached, "us", scale=1e6),
            ratios("cached user / phonenumbers parse", cached, parse, "a dict hit")]


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def routing(sizes: tuple[int, ...] = (1_000, 100_000, 300_000)) -> list[Figure]:
    """Cost of learning a new chat's route when the client already knows ``size`` chats
    (the memory store: bounded), and the memory it holds at the largest size."""
    from spectrum_sync._backend.quotas import QuotaLimits, QuotaTracker
    from spectrum_sync._backend.routing import Routing
    from spectrum_sync._state.monitor import StoreMonitor

    figures = []
    store = MemoryStore()
    monitor = StoreMonitor()
    route = Routing(store, monitor)
    quotas = QuotaTracker(store, QuotaLimits(), monitor)
    gc.collect()
    before = _rss()
    learned = 0
    costs = []
    for size in sizes:
        while learned < size:
            chat = f"any;-;+1555{learned:07d}"
            if route.learn(chat, "+15550000001"):
                quotas.record_contact("+15550000001", chat)
            learned += 1
        samples = []
        for _ in range(5):
            chats = [f"any;-;+1666{learned + i:07d}" for i in range(1000)]
            start = time.perf_counter()
            for chat in chats:
                if route.learn(chat, "+15550000001"):
                    quotas.record_contact("+15550000001", chat)
            samples.append((time.perf_counter() - start) / 1000)
            learned += 1000
        costs.append(samples)
        figures.append(Figure(f"learn a route at {size:,} chats", samples, "us", scale=1e6))
    gc.collect()
    figures.append(ratios(f"learn cost {sizes[-1]:,} / {sizes[0]:,} chats", costs[-1],
                          costs[0], "<= 2"))
    figures.append(Figure(f"memory held at {learned:,} chats", [_rss() - before], "MiB",
                          "bounded", scale=1 / 2**20))
    return figures
