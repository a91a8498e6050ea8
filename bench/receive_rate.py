"""Receive rate and added latency of ``client.messages()`` against iterating the raw stream.

DESIGN.md 7: receiving should deliver >= 0.8x the rate of iterating the raw stream, with a p99
added latency of a few milliseconds. Each round the emulator (its own process) injects N inbound
messages while one consumer reads them: the raw generated stub, or a fresh client's generator.
Usage: ``python bench/receive_rate.py [--events N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.request
from collections.abc import Iterator

import grpc

from spectrum_sync import Client
from spectrum_sync._proto import messages_pb2, messages_pb2_grpc

from _harness import LINE, PEER, alternate, emulator_process, line_token, median, post, report


def open_streams(env: dict[str, str]) -> int:
    with urllib.request.urlopen(f"{env['SPECTRUM_CLOUD_URL']}/_emulator/state", timeout=10) as r:
        return int(json.loads(r.read())["open_streams"])


def inject_when_subscribed(env: dict[str, str], before: int, wanted: int, count: int) -> None:
    """Wait until ``wanted`` more streams are open, then inject ``count`` inbound messages."""
    deadline = time.monotonic() + 30
    while open_streams(env) < before + wanted:
        if time.monotonic() > deadline:
            raise RuntimeError("the consumer never subscribed")
        time.sleep(0.01)
    post(f"{env['SPECTRUM_CLOUD_URL']}/_emulator/inbound",
         {"from": PEER, "text": "load", "line": LINE, "count": count})


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


def raw_round(env: dict[str, str], count: int) -> Round:
    token = line_token(env)
    result = Round()
    with grpc.insecure_channel(env["SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"]) as channel:
        stub = messages_pb2_grpc.MessageServiceStub(channel)
        before = open_streams(env)
        call = stub.SubscribeMessageEvents(
            messages_pb2.SubscribeMessageEventsRequest(),
            metadata=(("authorization", f"Bearer {token}"),),
        )
        feeder = threading.Thread(target=inject_when_subscribed, args=(env, before, 1, count))
        feeder.start()
        frames: Iterator[messages_pb2.SubscribeMessageEventsResponse] = call
        for frame in frames:
            if frame.WhichOneof("payload") != "message_changed":
                continue
            event = frame.message_changed
            if event.WhichOneof("change") == "message_received" and not event.is_from_me:
                result.seen(event.occurred_at.ToNanoseconds() / 1e9)
                if len(result.latencies) == count:
                    break
        call.cancel()
        feeder.join()
    return result


def client_round(env: dict[str, str], count: int) -> Round:
    result = Round()
    with Client(env=env) as client:
        before = open_streams(env)
        # A dedicated line opens three streams: messages, groups, polls.
        feeder = threading.Thread(target=inject_when_subscribed, args=(env, before, 3, count))
        feeder.start()
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
    args = parser.parse_args()
    with emulator_process() as env:
        raw_round(env, 200)  # warm-up
        client_round(env, 200)
        raw_rounds, lib_rounds = alternate(
            args.rounds,
            lambda: raw_round(env, args.events),
            lambda: client_round(env, args.events),
        )
    raw_rate = median([r.rate for r in raw_rounds])
    lib_rate = median([r.rate for r in lib_rounds])
    raw_p99 = median([percentile(r.latencies, 0.99) for r in raw_rounds])
    lib_p99 = median([percentile(r.latencies, 0.99) for r in lib_rounds])
    raw_p50 = median([percentile(r.latencies, 0.5) for r in raw_rounds])
    lib_p50 = median([percentile(r.latencies, 0.5) for r in lib_rounds])
    report(f"receive: client.messages() vs raw stream ({args.events} events a round)", [
        ("raw stream", f"{raw_rate:8.0f} events/s"),
        ("client.messages()", f"{lib_rate:8.0f} events/s"),
        ("rate ratio", f"{lib_rate / raw_rate:8.3f}x   (target >= 0.8)"),
        ("latency p50 raw/client", f"{raw_p50 * 1e3:6.2f} / {lib_p50 * 1e3:6.2f} ms"),
        ("latency p99 raw/client", f"{raw_p99 * 1e3:6.2f} / {lib_p99 * 1e3:6.2f} ms"),
        ("added p99", f"{(lib_p99 - raw_p99) * 1e3:6.2f} ms   (target: a few ms)"),
    ])


if __name__ == "__main__":
    main()
