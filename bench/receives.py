"""Receiving: ``client.messages()`` against iterating the raw stream, rate and CPU per event
(memory, SQLite and, when redis-server is installed, Redis stores), and the added latency at
a paced rate. ``python bench/receives.py [EVENTS]`` counts the instructions per event of
each consumer instead (callgrind: steady where timings on a shared machine are not).

The baseline is the generated stub as grpcio runs it by default; the library
reads its streams in grpcio's single-threaded mode, so a raw consumer in that mode is
measured too, and the library's CPU per event is also given against it.

The emulator (in its own process) has one dedicated line, and the raw consumer holds the
same four streams the client holds on it (messages, groups, polls, chats), so that the
emulator does the same work for both. CPU is
this process's CPU time (every thread) from the first injected event to the last received,
per event."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc

from spectrum_sync import Client, RedisStore
from spectrum_sync._proto import (
    chats_pb2,
    chats_pb2_grpc,
    groups_pb2,
    groups_pb2_grpc,
    messages_pb2,
    messages_pb2_grpc,
    polls_pb2,
    polls_pb2_grpc,
)
from spectrum_sync._transport.channels import SINGLE_THREADED_STREAMS

from _harness import (
    LINE,
    PEER,
    Figure,
    alternate,
    alternate_named,
    can_set_servers_apart,
    get,
    line_token,
    post,
    ratios,
    run_apart,
)

#: A round whose events stop coming for this long fails (a lost event would hang it).
IDLE_LIMIT = 30.0


class _Watchdog:
    """Ends a round's stream (``cancel``) when it has seen no new event for
    :data:`IDLE_LIMIT` seconds."""

    def __init__(self, result: Round, cancel: Callable[[], object]) -> None:
        self._result, self._cancel = result, cancel
        self._seen, self._at = -1, time.monotonic()
        self._stopped = threading.Event()
        self.fired = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stopped.wait(1.0):
            seen = len(self._result.latencies)
            if seen != self._seen:
                self._seen, self._at = seen, time.monotonic()
            elif time.monotonic() - self._at > IDLE_LIMIT:
                self.fired = True
                self._cancel()
                return

    def stop(self) -> None:
        self._stopped.set()


def _watched(frames: Iterator[Any], watchdog: _Watchdog) -> Iterator[Any]:
    """The frames, until the watchdog cancels the stream: then the round fails."""
    try:
        yield from frames
    except grpc.RpcError:
        if not watchdog.fired:
            raise
    raise RuntimeError("the raw stream received too few events (none for "
                       f"{IDLE_LIMIT:g} s)")


def _open_streams(env: dict[str, str]) -> int:
    return int(get(f"{env['SPECTRUM_CLOUD_URL']}/_emulator/state")["open_streams"])


def wait_streams(env: dict[str, str], count: int) -> None:
    deadline = time.monotonic() + 30
    while _open_streams(env) != count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{_open_streams(env)} streams open, expected {count}")
        time.sleep(0.005)


def _inject(env: dict[str, str], count: int, paced: float | None) -> None:
    url = f"{env['SPECTRUM_CLOUD_URL']}/_emulator/inbound"
    if paced is None:
        post(url, {"from": PEER, "text": "load", "line": LINE, "count": count})
        return
    start = time.monotonic()
    for n in range(count):
        time.sleep(max(0.0, start + n / paced - time.monotonic()))
        post(url, {"from": PEER, "text": f"paced {n}", "line": LINE})


class Round:
    """What one consumer saw: latencies, the wall clock and CPU time of the run."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.latencies: list[float] = []
        self.cpu0 = self.wall0 = 0.0
        self.cpu = self.wall = 0.0

    def start(self) -> None:
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()

    def seen(self, occurred: float) -> bool:
        self.latencies.append(time.time() - occurred)
        if len(self.latencies) < self.count:
            return False
        self.cpu = time.process_time() - self.cpu0
        self.wall = time.perf_counter() - self.wall0
        return True

    @property
    def rate(self) -> float:
        return self.count / self.wall

    @property
    def cpu_per_event(self) -> float:
        return self.cpu / self.count


def _feed(env: dict[str, str], result: Round, paced: float | None,
          abort: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        try:
            result.start()
            _inject(env, result.count, paced)
        except Exception as exc:
            print(f"feeder failed: {exc!r}")
            abort()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def raw_round(env: dict[str, str], count: int, paced: float | None = None,
              single_threaded: bool = False) -> Round:
    """The baseline: generated stubs iterating the stream. ``single_threaded``: in grpcio's
    single-threaded stream mode, as the library reads its streams (a second baseline, so
    that the library's own pipeline is measured apart from that choice)."""
    return raw_bursts(env, (count,), paced, single_threaded)[0]


def raw_bursts(env: dict[str, str], counts: Sequence[int], paced: float | None = None,
               single_threaded: bool = False,
               make_round: Callable[[int], Round] = Round) -> list[Round]:
    """:func:`raw_round` over several bursts, one after the other, on the same streams (the
    first ones warm the consumer up, as a long-running receiver is)."""
    results = [make_round(count) for count in counts]
    auth = (("authorization", f"Bearer {line_token(env)}"),)
    options = [(SINGLE_THREADED_STREAMS, 1)] if single_threaded else []
    address = env["SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"]
    if env.get("SPECTRUM_IMESSAGE_TLS") == "true":  # as the client does, on a TLS emulator
        with open(env["SPECTRUM_TLS_CA_FILE"], "rb") as pem:
            credentials = grpc.ssl_channel_credentials(root_certificates=pem.read())
        opened = grpc.secure_channel(address, credentials, options=options)
    else:
        opened = grpc.insecure_channel(address, options=options)
    with opened as channel:
        wait_streams(env, 0)
        call = messages_pb2_grpc.MessageServiceStub(channel).SubscribeMessageEvents(
            messages_pb2.SubscribeMessageEventsRequest(), metadata=auth)
        idle = [  # opened as a client does; their frames are not read here
            groups_pb2_grpc.GroupServiceStub(channel).SubscribeGroupEvents(
                groups_pb2.SubscribeGroupEventsRequest(), metadata=auth),
            polls_pb2_grpc.PollServiceStub(channel).SubscribePollEvents(
                polls_pb2.SubscribePollEventsRequest(), metadata=auth),
            chats_pb2_grpc.ChatServiceStub(channel).SubscribeChatEvents(
                chats_pb2.SubscribeChatEventsRequest(), metadata=auth)]
        wait_streams(env, 1 + len(idle))
        frames: Iterator[messages_pb2.SubscribeMessageEventsResponse] = call
        for result in results:
            feeder = _feed(env, result, paced, call.cancel)
            # The emulator sends heartbeats: a stream with nothing else for IDLE_LIMIT is
            # cancelled, and the round fails, rather than waiting forever.
            watchdog = _Watchdog(result, call.cancel)
            for frame in _watched(frames, watchdog):
                if frame.WhichOneof("payload") != "message_changed":
                    continue
                event = frame.message_changed
                if (event.WhichOneof("change") == "message_received" and not event.is_from_me
                        and result.seen(event.occurred_at.ToNanoseconds() / 1e9)):
                    break
            watchdog.stop()
            feeder.join()
        for stream in (call, *idle):
            stream.cancel()
    return results


def client_round(env: dict[str, str], count: int, paced: float | None = None,
                 store: str = "memory") -> Round:
    return client_bursts(env, (count,), paced, store)[0]


def client_bursts(env: dict[str, str], counts: Sequence[int], paced: float | None = None,
                  store: str = "memory",
                  make_round: Callable[[int], Round] = Round) -> list[Round]:
    """``for msg in client.messages()`` over several bursts, one after the other, in one
    loop of one client (the first ones warm it up, as a long-running receiver is)."""
    results = [make_round(count) for count in counts]
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        state: Any = {"memory": None, "sqlite": f"sqlite:///{Path(folder) / 'state.db'}"}.get(
            store, store)
        if store.startswith("redis"):
            # A fresh namespace per round: every round starts live, as with a new file.
            state = RedisStore(store, namespace=uuid.uuid4().hex)
            stack.callback(state.close)
        wait_streams(env, 0)
        with Client(env=env, state=state) as client, client.messages() as inbox:
            # As the raw round waits for its subscriptions: start with every stream live, so
            # that the readers' start-up catch-ups (which replay whatever arrives meanwhile,
            # of every family) are not measured as the cost of the events.
            deadline = time.monotonic() + 30
            while {h.state for h in client.health().values()} != {"live"}:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streams not live: {client.health()}")
                time.sleep(0.005)
            if store.startswith("redis"):
                # A new namespace's lease hands out nothing for one lease ttl (Redis cannot
                # tell it from lost data: docs/behaviour.md, "Several receivers"): wait for a
                # first event, so that the round measures receiving, not that wait.
                _inject(env, 1, None)
                next(iter(inbox))
            for result in results:
                feeder = _feed(env, result, paced, inbox.close)
                stalled: list[object] = []  # the health when the watchdog gave up

                def give_up() -> None:
                    stalled.append(client.health())  # noqa: B023 - used in this round only
                    inbox.close()

                watchdog = _Watchdog(result, give_up)
                for message in inbox:  # the inbox is its own iterator: a break keeps it open
                    assert message.created_at is not None
                    if result.seen(message.created_at.timestamp()):
                        break
                else:  # closed by the watchdog: say what went missing
                    raise RuntimeError(f"the client received {len(result.latencies)} of "
                                       f"{result.count} events; health: {stalled}")
                watchdog.stop()
                feeder.join()
    return results


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(env: dict[str, str], events: int, rounds: int, paced_events: int,
            paced_rate: float, redis_url: str | None = None) -> list[Figure]:
    """The receive figures. The servers (the emulator, Redis) run on a core of their own, as
    a remote service would be, so that the rate says whether a consumer keeps up with the
    stream rather than how much CPU it takes from the server on a shared machine; a second
    pair of rounds (raw and the memory store) shares every core with them, as the figures
    were first measured."""
    servers = [env["SPECTRUM_CLOUD_URL"], *([redis_url] if redis_url else [])]

    def apart(run: Callable[[], Round]) -> Callable[[], Round]:
        return run_apart(run, *servers)

    raw_round(env, 100)  # warm-up
    client_round(env, 100)
    runs = {"raw": apart(lambda: raw_round(env, events)),
            "memory": apart(lambda: client_round(env, events)),
            "sqlite": apart(lambda: client_round(env, events, store="sqlite")),
            "raw_single": apart(lambda: raw_round(env, events, single_threaded=True))}
    shared = can_set_servers_apart()
    if shared:
        runs["raw_shared"] = lambda: raw_round(env, events)
        runs["memory_shared"] = lambda: client_round(env, events)
    if redis_url is not None:
        runs["redis"] = apart(lambda: client_round(env, events, store=redis_url))
    taken = alternate_named(rounds, runs)
    raw, memory, sqlite, raw_single = (taken[name] for name in
                                       ("raw", "memory", "sqlite", "raw_single"))
    raw_paced, lib_paced = alternate(
        rounds, apart(lambda: raw_round(env, paced_events, paced_rate)),
        apart(lambda: client_round(env, paced_events, paced_rate)))
    added_p50 = [_percentile(b.latencies, 0.5) - _percentile(a.latencies, 0.5)
                 for a, b in zip(raw_paced, lib_paced)]
    added_p99 = [_percentile(b.latencies, 0.99) - _percentile(a.latencies, 0.99)
                 for a, b in zip(raw_paced, lib_paced)]
    with_redis = []
    if "redis" in taken:
        with_redis = [
            ratios("receive rate ratio (Redis, leased lines)", [r.rate for r in taken["redis"]],
                   [r.rate for r in raw]),
            ratios("CPU per event ratio (Redis, leased lines)",
                   [r.cpu_per_event for r in taken["redis"]], [r.cpu_per_event for r in raw]),
        ]
    return [
        Figure("raw stream rate", [r.rate for r in raw], "events/s"),
        ratios("receive rate ratio (memory)", [r.rate for r in memory],
               [r.rate for r in raw], ">= 0.95"),
        ratios("receive rate ratio (SQLite)", [r.rate for r in sqlite],
               [r.rate for r in raw], ">= 0.9"),
        Figure("raw CPU per event", [r.cpu_per_event for r in raw], "us", scale=1e6),
        ratios("CPU per event ratio (memory)", [r.cpu_per_event for r in memory],
               [r.cpu_per_event for r in raw], "<= 1.2"),
        ratios("CPU per event ratio (SQLite)", [r.cpu_per_event for r in sqlite],
               [r.cpu_per_event for r in raw]),
        Figure("raw CPU per event, single-threaded stream",
               [r.cpu_per_event for r in raw_single], "us", scale=1e6),
        ratios("CPU per event ratio (memory) vs that", [r.cpu_per_event for r in memory],
               [r.cpu_per_event for r in raw_single]),
        Figure(f"added p50 at {paced_rate:.0f}/s", added_p50, "ms", scale=1e3),
        Figure(f"added p99 at {paced_rate:.0f}/s", added_p99, "ms", "a few ms", scale=1e3),
        *with_redis,
        *([ratios("receive rate ratio (memory), server sharing the cores",
                  [r.rate for r in taken["memory_shared"]],
                  [r.rate for r in taken["raw_shared"]]),
           ratios("CPU per event ratio (memory), server sharing the cores",
                  [r.cpu_per_event for r in taken["memory_shared"]],
                  [r.cpu_per_event for r in taken["raw_shared"]])] if shared else []),
    ]


# -- instructions per event (steadier than any timing on a shared machine) -------------------

class _CountedRound(Round):
    """A round whose burst alone is counted: callgrind's counters are zeroed when it starts
    and dumped when its last event is seen (``callgrind_control``, this process)."""

    def start(self) -> None:
        _callgrind("-z")
        super().start()

    def seen(self, occurred: float) -> bool:
        done = super().seen(occurred)
        if done:
            _callgrind("-d")
        return done


def _callgrind(command: str) -> None:
    import os
    import subprocess

    subprocess.run(["callgrind_control", command, str(os.getpid())], check=True,
                   stdout=subprocess.DEVNULL, timeout=120)


def _count_inner(consumer: str, events: int, env: dict[str, str]) -> None:
    """Under callgrind: a warm-up burst, then a counted one of ``events``."""
    def counted(count: int) -> Round:
        return _CountedRound(count) if count == events else Round(count)

    if consumer == "client":
        client_bursts(env, (300, events), make_round=counted)
    else:
        raw_bursts(env, (300, events), single_threaded=consumer == "raw-single",
                   make_round=counted)


def count_instructions(events: int = 2000,
                       consumers: Sequence[str] = ("client", "raw-single", "raw"),
                       ) -> dict[str, float]:
    """The instructions per received event of each consumer (user space, every thread of
    the consumer's process; the emulator runs in its own process, not counted)."""
    import json
    import os
    import re
    import subprocess
    import sys

    from _harness import emulator_process

    counts: dict[str, float] = {}
    with emulator_process((LINE,)) as env, tempfile.TemporaryDirectory() as folder:
        for consumer in consumers:
            out = Path(folder) / f"{consumer}.out"
            subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                 sys.executable, __file__, "--inner", consumer, str(events), json.dumps(env)],
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=True,
                stderr=subprocess.DEVNULL, timeout=1800)
            dump = (Path(folder) / f"{consumer}.out.1").read_text()  # the -d dump
            found = re.search(r"^summary: (\d+)", dump, re.M)
            assert found is not None
            counts[consumer] = int(found.group(1)) / events
    return counts


def instruction_figures(events: int = 2000) -> list[Figure]:
    """The client's instructions per event against both raw consumers: the steady figure
    beside the timed ones, which move by a third from run to run on a shared machine.
    None without valgrind."""
    import shutil

    if shutil.which("valgrind") is None:
        return []
    counts = count_instructions(events)
    return [
        Figure("instructions per event, client", [counts["client"]], "k", scale=1e-3),
        ratios("instructions per event ratio (vs raw)", [counts["client"]], [counts["raw"]]),
        ratios("  same, vs raw single-threaded stream", [counts["client"]],
               [counts["raw-single"]]),
    ]


if __name__ == "__main__":
    import json
    import sys

    if sys.argv[1:2] == ["--inner"]:
        _count_inner(sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4]))
    else:
        for name, count in count_instructions(
                int(sys.argv[1]) if len(sys.argv) > 1 else 2000).items():
            print(f"{name:12s} {count:10,.0f} instructions/event")
