"""Cost of ``space.send()`` against a raw generated-stub call, single- and multi-threaded.

The performance budget: a send should cost at most ~10-15 % more than a raw stub call on the
same kind of channel, and many threads sending through one client should scale like raw gRPC
(>= 0.9x). The emulator runs in its own process. Usage: ``python bench/send_overhead.py
[--calls N]``. """

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections.abc import Callable

import grpc

from spectrum_sync import Client, QuotaLimits
from spectrum_sync._proto import chats_pb2, chats_pb2_grpc, messages_pb2, messages_pb2_grpc

from _harness import LINE, PEER, alternate, emulator_process, line_token, median, report, timed


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    with emulator_process() as env:
        client = Client(env=env, quota_limits=QuotaLimits(None, None))
        space = client.space.create(client.user(PEER, resolve=False), phone=LINE)

        # The baseline: the generated stub on its own channel, token and request built once,
        # with the metadata any correct client must send (bearer token, idempotency key,
        # client message id) and a deadline.
        token = line_token(env)
        channel = grpc.insecure_channel(env["SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"])
        stub = messages_pb2_grpc.MessageServiceStub(channel)
        chats_pb2_grpc.ChatServiceStub(channel).CreateChat(
            chats_pb2.CreateChatRequest(addresses=[PEER]),
            metadata=(("authorization", f"Bearer {token}"),), timeout=10,
        )
        auth = ("authorization", f"Bearer {token}")

        def raw_send() -> None:
            key = str(uuid.uuid4())
            stub.SendTextMessage(
                messages_pb2.SendTextMessageRequest(
                    chat_guid=space.id, text="hello", client_message_id=key
                ),
                metadata=(auth, ("x-idempotency-key", key)), timeout=30,
            )

        def client_send() -> None:
            space.send("hello")

        for _ in range(200):  # warm both paths (channels, caches, JIT-free but lazy imports)
            raw_send()
            client_send()

        raw, lib = alternate(
            args.rounds,
            lambda: timed(raw_send, args.calls),
            lambda: timed(client_send, args.calls),
        )
        per_thread = max(1, args.calls // args.threads)
        raw_mt, lib_mt = alternate(
            args.rounds,
            lambda: threaded_rate(raw_send, args.threads, per_thread),
            lambda: threaded_rate(client_send, args.threads, per_thread),
        )
        client.close()
        channel.close()

    r, c = median(raw), median(lib)
    report("send: space.send() vs raw stub (emulator in another process)", [
        ("raw stub per call", f"{r * 1e6:8.1f} us"),
        ("space.send per call", f"{c * 1e6:8.1f} us"),
        ("overhead ratio", f"{c / r:8.3f}x   (target <= 1.10-1.15)"),
        (f"raw {args.threads} threads", f"{median(raw_mt):8.0f} calls/s"),
        (f"client {args.threads} threads", f"{median(lib_mt):8.0f} calls/s"),
        ("threaded ratio", f"{median(lib_mt) / median(raw_mt):8.3f}x   (target >= 0.9)"),
    ])


if __name__ == "__main__":
    main()
