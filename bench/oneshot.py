"""A one-shot script's whole life: a fresh process that resolves one user and sends one
message, against the same work written with raw grpcio and urllib.

Both are fresh interpreters run as subprocesses, alternated, against the emulator in its own
process. Wall time is from spawning to exit (the interpreter's own start-up included on both
sides); memory is the child's peak RSS. The raw script does what the client must do for
``with Client() as c: c.space.create(c.user(...)).send(...)``: the token exchange over
HTTPS-or-HTTP with urllib, ``GetAddressInfo``, ``CreateChat``, ``SendTextMessage`` (with an
idempotency key and a deadline), then closes its channel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from _harness import LINE, PEER, Figure, alternate, ratios

OURS = f"""
from spectrum_sync import Client
with Client() as c:
    c.space.create(c.user({PEER!r}), phone={LINE!r}).send("hello")
"""

RAW = f"""
import base64, json, os, urllib.request, uuid
import grpc
from spectrum_sync._proto import (addresses_pb2, addresses_pb2_grpc, chats_pb2,
                                  chats_pb2_grpc, messages_pb2, messages_pb2_grpc)
env = os.environ
pid, secret = env["SPECTRUM_PROJECT_ID"], env["SPECTRUM_PROJECT_SECRET"]
basic = base64.b64encode(f"{{pid}}:{{secret}}".encode()).decode()
request = urllib.request.Request(
    f"{{env['SPECTRUM_CLOUD_URL']}}/projects/{{pid}}/imessage/tokens", data=b"{{}}",
    method="POST", headers={{"Authorization": "Basic " + basic,
                             "Content-Type": "application/json"}})
with urllib.request.urlopen(request, timeout=30) as answer:
    grant = json.loads(answer.read())["data"]
instance = next(i for i, n in grant["numbers"].items() if n == {LINE!r})
auth = (("authorization", "Bearer " + grant["auth"][instance]),)
address = env["SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"].replace("{{instanceId}}", instance)
with grpc.insecure_channel(address) as channel:
    addresses_pb2_grpc.AddressServiceStub(channel).GetAddressInfo(
        addresses_pb2.GetAddressInfoRequest(address={PEER!r}), metadata=auth, timeout=30)
    chat = chats_pb2_grpc.ChatServiceStub(channel).CreateChat(
        chats_pb2.CreateChatRequest(addresses=[{PEER!r}]), metadata=auth, timeout=30)
    key = str(uuid.uuid4())
    messages_pb2_grpc.MessageServiceStub(channel).SendTextMessage(
        messages_pb2.SendTextMessageRequest(chat_guid=chat.chat.guid, text="hello",
                                            client_message_id=key),
        metadata=auth + (("x-idempotency-key", key),), timeout=30)
"""


class Run:
    """One child process: its wall time and peak RSS."""

    def __init__(self, seconds: float, rss: int) -> None:
        self.seconds = seconds
        self.rss = rss


def _run(script: str, env: dict[str, str]) -> Run:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"the one-shot script failed ({proc.returncode})")
    return Run(seconds, usage.ru_maxrss * 1024)  # Linux: KiB


def measure(env: dict[str, str], rounds: int) -> list[Figure]:
    # As installed from a wheel, the modules' bytecode is cached: the first runs write it
    # even where the environment says not to (a developer's PYTHONDONTWRITEBYTECODE would
    # otherwise make every run compile the library from source).
    child_env = {name: value for name, value in os.environ.items()
                 if name != "PYTHONDONTWRITEBYTECODE"}
    child_env.update(env)
    _run(RAW, child_env)  # warm the page cache (and bytecode) for both
    _run(OURS, child_env)
    raw, ours = alternate(rounds, lambda: _run(RAW, child_env), lambda: _run(OURS, child_env))
    return [
        Figure("one-shot script, raw grpcio + urllib", [r.seconds for r in raw], "ms",
               scale=1e3),
        Figure("one-shot script, Client", [r.seconds for r in ours], "ms", scale=1e3),
        ratios("one-shot script ratio (vs raw)", [r.seconds for r in ours],
               [r.seconds for r in raw], "<= 1.25"),
        Figure("one-shot peak RSS, raw", [r.rss for r in raw], "MiB",
               scale=1 / 2**20),
        Figure("one-shot peak RSS, Client", [r.rss for r in ours], "MiB", scale=1 / 2**20),
    ]

