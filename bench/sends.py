"""Sends: ``space.send()`` against a raw generated-stub call, alone and from 16 threads.

The baseline is the generated stub on its own channel with the token and request built
once, carrying what any correct client must send (bearer token, idempotency key, client
message id, a deadline)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import grpc

from spectrum_sync import Client, QuotaLimits
from spectrum_sync._proto import chats_pb2, chats_pb2_grpc, messages_pb2, messages_pb2_grpc

from _harness import LINE, PEER, Figure, alternate, line_token, ratios, timed


def threaded_rate(action: Callable[[], object], threads: int, per_thread: int) -> float:
    """Calls per second with ``threads`` threads each making ``per_thread`` calls."""
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for _ in range(per_thread):
            action()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    return threads * per_thread / (time.perf_counter() - start)


def measure(env: dict[str, str], calls: int, rounds: int, threads: int = 16,
            store: str | None = None) -> list[Figure]:
    with Client(env=env, quota_limits=QuotaLimits(None, None), state=store) as client:
        space = client.space.create(client.user(PEER, resolve=False), phone=LINE)
        token = line_token(env)
        channel = grpc.insecure_channel(env["SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"])
        stub = messages_pb2_grpc.MessageServiceStub(channel)
        auth = ("authorization", f"Bearer {token}")
        chats_pb2_grpc.ChatServiceStub(channel).CreateChat(
            chats_pb2.CreateChatRequest(addresses=[PEER]), metadata=(auth,), timeout=10)

        def raw_send() -> None:
            key = str(uuid.uuid4())
            stub.SendTextMessage(
                messages_pb2.SendTextMessageRequest(
                    chat_guid=space.id, text="hello", client_message_id=key),
                metadata=(auth, ("x-idempotency-key", key)), timeout=30)

        def client_send() -> None:
            space.send("hello")

        for _ in range(100):  # warm both paths
            raw_send()
            client_send()
        raw, lib = alternate(rounds, lambda: timed(raw_send, calls),
                             lambda: timed(client_send, calls))
        per_thread = max(1, calls // threads)
        raw_mt, lib_mt = alternate(
            rounds, lambda: threaded_rate(raw_send, threads, per_thread),
            lambda: threaded_rate(client_send, threads, per_thread))
        channel.close()
    label = f" ({store.split(':')[0]} store)" if store else ""
    return [
        Figure(f"raw stub call{label}", raw, "us", scale=1e6),
        Figure(f"space.send(){label}", lib, "us", scale=1e6),
        # The budget is the default (memory) store's; Redis adds its own round trips.
        ratios(f"send latency ratio{label}", lib, raw, "" if store else "<= 1.15"),
        ratios(f"{threads}-thread throughput ratio{label}", lib_mt, raw_mt,
               "" if store else ">= 0.9"),
    ]
