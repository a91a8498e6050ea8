"""A one-shot script's whole life: a fresh process that resolves one user and sends one
message, against the same work written with raw grpcio and urllib.

Both are fresh interpreters run as subprocesses, alternated, against the emulator in its own
process. Wall time is from spawning to exit (the interpreter's own start-up included on both
sides); memory is the child's peak RSS (VmHWM). The raw script does what the client must do for
``with Client() as c: c.space.create(c.user(...)).send(...)``: the token exchange over
HTTPS-or-HTTP with urllib, ``GetAddressInfo``, ``CreateChat``, ``SendTextMessage`` (with an
idempotency key and a deadline), then closes its channel.

Wall and CPU time move by tens of percent on a shared machine. Where valgrind is installed,
a full run also counts the instructions each script executes (callgrind, one run each):
steady to a fraction of a percent, and the figure to compare two versions by.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
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
    """One child process: its wall time, CPU time (user + system) and peak RSS."""

    def __init__(self, seconds: float, cpu: float, rss: int) -> None:
        self.seconds = seconds
        self.cpu = cpu
        self.rss = rss


# The child's own peak (the rusage of a forked child also counts this process's pages).
_PEAK = "\nprint(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"


def _run(script: str, env: dict[str, str]) -> Run:
    # Children's CPU is counted once they are reaped; one child runs at a time here.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", script + _PEAK], env=env, check=True,
                          stdout=subprocess.PIPE, text=True, timeout=120)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(seconds, cpu, int(proc.stdout.split()[-1]) * 1024)  # VmHWM is in kB


def _instructions(script: str, env: dict[str, str]) -> int | None:
    """Instructions the child executes (user space, all threads), or None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    proc = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           sys.executable, "-c", script], env=env, check=True,
                          capture_output=True, text=True, timeout=600)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    return int(found.group(1)) if found else None


def measure(env: dict[str, str], rounds: int, count_instructions: bool = False
            ) -> list[Figure]:
    # As installed from a wheel, the modules' bytecode is cached: the first runs write it
    # even where the environment says not to (a developer's PYTHONDONTWRITEBYTECODE would
    # otherwise make every run compile the library from source).
    child_env = {name: value for name, value in os.environ.items()
                 if name != "PYTHONDONTWRITEBYTECODE"}
    child_env.update(env)
    _run(RAW, child_env)  # warm the page cache (and bytecode) for both
    _run(OURS, child_env)
    raw, ours = alternate(rounds, lambda: _run(RAW, child_env), lambda: _run(OURS, child_env))
    counted: list[Figure] = []
    if count_instructions:
        raw_count, our_count = _instructions(RAW, child_env), _instructions(OURS, child_env)
        if raw_count and our_count:
            counted = [ratios("one-shot script instruction ratio (vs raw)", [our_count],
                              [raw_count]),
                       Figure("one-shot instructions, Client", [our_count], "M",
                              scale=1e-6)]
    return [
        Figure("one-shot script, raw grpcio + urllib", [r.seconds for r in raw], "ms",
               scale=1e3),
        Figure("one-shot script, Client", [r.seconds for r in ours], "ms", scale=1e3),
        ratios("one-shot script ratio (vs raw)", [r.seconds for r in ours],
               [r.seconds for r in raw], "<= 1.25"),
        # CPU time is what the wall time is made of on an idle machine; on a busy, shared
        # one it is the steadier figure (waiting for a core does not count).
        ratios("one-shot script CPU ratio (vs raw)", [r.cpu for r in ours],
               [r.cpu for r in raw]),
        Figure("one-shot peak RSS, raw", [r.rss for r in raw], "MiB",
               scale=1 / 2**20),
        Figure("one-shot peak RSS, Client", [r.rss for r in ours], "MiB", scale=1 / 2**20),
        *counted,
    ]

