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


class _RouteLearner:
    """One client's routing state (the memory store) holding ``size`` chats' routes."""

    def __init__(self, size: int) -> None:
        from spectrum_sync._backend.quotas import QuotaLimits, QuotaTracker
        from spectrum_sync._backend.routing import Routing
        from spectrum_sync._state.monitor import StoreMonitor

        store, monitor = MemoryStore(), StoreMonitor()
        self._route = Routing(store, monitor)
        self._quotas = QuotaTracker(store, QuotaLimits(), monitor)
        self.learned = 0
        self._learn([self._chat(n) for n in range(size)])

    @staticmethod
    def _chat(n: int) -> str:
        return f"any;-;+1555{n:07d}"

    def _learn(self, chats: list[str]) -> None:
        for chat in chats:
            if self._route.learn(chat, "+15550000001"):
                self._quotas.record_contact("+15550000001", chat)
        self.learned += len(chats)

    def round(self) -> float:
        """Seconds per route of 1,000 new chats."""
        chats = [self._chat(self.learned + n) for n in range(1000)]
        start = time.perf_counter()
        self._learn(chats)
        return (time.perf_counter() - start) / 1000


def routing(sizes: tuple[int, ...] = (1_000, 100_000, 300_000),
            rounds: int = 5) -> list[Figure]:
    """Cost of learning a new chat's route when the client already knows ``size`` chats
    (the memory store: bounded), and the memory it holds at the largest size. One state
    per size is filled first; then the rounds alternate between them, so that other work
    on the machine slows every size alike (rounds of one size back to back once put the
    ratio at 1.0 in one run and 2.3 in the next)."""
    gc.collect()
    before = _rss()
    largest = _RouteLearner(sizes[-1])
    gc.collect()
    held = _rss() - before
    learners = [*(_RouteLearner(size) for size in sizes[:-1]), largest]
    costs = alternate(rounds, *(learner.round for learner in learners))
    figures = [Figure(f"learn a route at {size:,} chats", samples, "us", scale=1e6)
               for size, samples in zip(sizes, costs)]
    figures.append(ratios(f"learn cost {sizes[-1]:,} / {sizes[0]:,} chats", costs[-1],
                          costs[0], "<= 2"))
    figures.append(Figure(f"memory held at {sizes[-1]:,} chats", [held], "MiB", "bounded",
                          scale=1 / 2**20))
    return figures
