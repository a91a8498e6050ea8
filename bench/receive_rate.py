"""Receive rate and added latency of ``client.messages()`` against iterating the raw stream.

The performance budget: receiving should deliver >= 0.8x the rate of iterating the raw stream,
with a p99 added latency of a few milliseconds at hundreds of events per second. The emulator
runs in its own process. Each round one consumer reads N inbound messages: the raw generated
stub, or a fresh client's generator. The raw consumer holds the same three streams a client
holds on a dedicated line (messages, groups, polls), so that the emulator does the same work
for both. Rate is measured on a burst (the emulator injects as fast as it can); latency on a
paced run (``--paced-rate`` events/s), where it is not dominated by the backlog of a burst.
Usage: ``python bench/receive_rate.py [--events N] [--rounds R] [--paced-rate R]``. """

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator

import grpc

from spectrum_sync import Client
from spectrum_sync._proto import (
    groups_pb2,
    groups_pb2_grpc,
    messages_pb2,
    messages_pb2_grpc,
    polls_pb2,
    polls_pb2_grpc,
)

from _harness import LINE, PEER, alternate, emulator_process, line_token, median, post, report


def open_streams(env: dict[str, str]) -> int:
    with urllib.request.urlopen(f"{env['SPECTRUM_CLOUD_URL']}/_emulator/state", timeout=10) as r:
        return int(json.loads(r.read())["open_streams"])


def idle_emulator(env: dict[str, str]) -> int:
    """Wait until the previous round's streams have closed; returns the open count (0)."""
    deadline = time.monotonic() + 30
    while (count := open_streams(env)) != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} streams still open")
        time.sleep(0.01)
    return count


def inject_when_subscribed(
    env: dict[str, str], before: int, count: int, paced: float | None
) -> None:
    """Wait until the consumer's 3 streams are open, then inject ``count`` inbound messages:
    as one burst, or ``paced`` per second."""
    deadline = time.monotonic() + 30
    while open_streams(env) < before + 3:
        if time.monotonic() > deadline:
            raise RuntimeError("the consumer never subscribed")
        time.sleep(0.01)
    url = f"{env['SPECTRUM_CLOUD_URL']}/_emulator/inbound"
    if paced is None:
        post(url, {"from": PEER, "text": "load", "line": LINE, "count": count})
        return
    start = time.monotonic()
    for n in range(count):
        time.sleep(max(0.0, start + n / paced - time.monotonic()))
        post(url, {"from": PEER, "text": f"paced {n}", "line": LINE})


def start_feeder(env: dict[str, str], before: int, count: int, paced: float | None,
                 abort: Callable[[], object]) -> threading.Thread:
    """Inject in the background; on failure ``abort()`` ends the consumer instead of a hang."""
    def run() -> None:
        try:
            inject_when_subscribed(env, before, count, paced)
        except Exception as exc:
            print(f"feeder failed: {exc!r}")
            abort()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


class Round:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.first = 0.0
        self.last = 0.0

    def seen(self, occurred: float) -> None:
        now = time.time()
        if not self.latencies:
            self.first = time.perf_counter()
        self.latencies.append(now - occurred)
        self.last = time.perf_counter()

    @property
    def rate(self) -> float:
        return (len(self.latencies) - 1) / max(self.last - self.first, 1e-9)


def raw_round(env: dict[str, str], count: int, paced: float | None = None) -> Round:
    token = line_token(env)
    result = Round()
    auth = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(env["SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"]) as channel:
        stub = messages_pb2_grpc.MessageServiceStub(channel)
        before = idle_emulator(env)
        call = stub.SubscribeMessageEvents(messages_pb2.SubscribeMessageEventsRequest(),
                                           metadata=auth)
        idle = [  # opened like a client does; their frames are not read here
            groups_pb2_grpc.GroupServiceStub(channel).SubscribeGroupEvents(
                groups_pb2.SubscribeGroupEventsRequest(), metadata=auth),
            polls_pb2_grpc.PollServiceStub(channel).SubscribePollEvents(
                polls_pb2.SubscribePollEventsRequest(), metadata=auth),
        ]
        feeder = start_feeder(env, before, count, paced, call.cancel)
        frames: Iterator[messages_pb2.SubscribeMessageEventsResponse] = call
        for frame in frames:
            if frame.WhichOneof("payload") != "message_changed":
                continue
            event = frame.message_changed
            if event.WhichOneof("change") == "message_received" and not event.is_from_me:
                result.seen(event.occurred_at.ToNanoseconds() / 1e9)
                if len(result.latencies) == count:
                    break
        for stream in (call, *idle):
            stream.cancel()
        feeder.join()
    return result


def client_round(env: dict[str, str], count: int, paced: float | None = None) -> Round:
    result = Round()
    with Client(env=env) as client:
        before = idle_emulator(env)
        feeder = start_feeder(env, before, count, paced, client.close)
        for message in client.messages():
            assert message.created_at is not None
            result.seen(message.created_at.timestamp())
            if len(result.latencies) == count:
                break
        feeder.join()
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced-rate", type=float, default=300.0)
    parser.add_argument("--paced-events", type=int, default=600)
    args = parser.parse_args()
    with emulator_process() as env:
        raw_round(env, 200)  # warm-up
        client_round(env, 200)
        raw_rounds, lib_rounds = alternate(
            args.rounds,
            lambda: raw_round(env, args.events),
            lambda: client_round(env, args.events),
        )
        raw_paced, lib_paced = alternate(
            args.rounds,
            lambda: raw_round(env, args.paced_events, args.paced_rate),
            lambda: client_round(env, args.paced_events, args.paced_rate),
        )
    raw_rate = median([r.rate for r in raw_rounds])
    lib_rate = median([r.rate for r in lib_rounds])
    raw_p99 = median([percentile(r.latencies, 0.99) for r in raw_paced])
    lib_p99 = median([percentile(r.latencies, 0.99) for r in lib_paced])
    raw_p50 = median([percentile(r.latencies, 0.5) for r in raw_paced])
    lib_p50 = median([percentile(r.latencies, 0.5) for r in lib_paced])
    report(f"receive: client.messages() vs raw stream ({args.events} events a burst, "
           f"{args.paced_events} at {args.paced_rate:.0f}/s for latency)", [
        ("raw stream", f"{raw_rate:8.0f} events/s"),
        ("client.messages()", f"{lib_rate:8.0f} events/s"),
        ("rate ratio", f"{lib_rate / raw_rate:8.3f}x   (target >= 0.8)"),
        ("paced p50 raw/client", f"{raw_p50 * 1e3:6.2f} / {lib_p50 * 1e3:6.2f} ms"),
        ("paced p99 raw/client", f"{raw_p99 * 1e3:6.2f} / {lib_p99 * 1e3:6.2f} ms"),
        ("added p99", f"{(lib_p99 - raw_p99) * 1e3:6.2f} ms   (target: a few ms)"),
    ])


if __name__ == "__main__":
    main()
