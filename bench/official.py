"""Against the official SDKs on the same emulator (when Node is here): the sequential send
rate, and the receive rate on bursts of inbound messages.

Sends: the official low-level SDK (``@photon-ai/advanced-imessage``, which the official
``spectrum-ts`` iMessage provider drives) sends N messages one after the other from Node;
``space.send()`` does the same from Python. Receiving: spectrum-ts's
``for await (... of app.messages)`` and ``for msg in client.messages()`` each read bursts of
inbound messages, live (both sides subscribed first, nothing replayed), rounds alternated,
over a TLS emulator (spectrum-ts always dials TLS) in its own process, on a core of its own
as a remote service would be (the receivers on the others; rounds sharing every core are
printed beside); a burst's rate is its size over the time from its injection to its last
message read. Each round is one fresh receiver (a new Node process; a new client) reading
three bursts: N, then a warm-up burst, then N again. The first burst gives the figure of a
fresh receiver (the budgeted one: the issue measured one burst); the last one the steady
state of a long-running receiver: V8's JIT makes spectrum-ts two to three times as fast
after a few thousand messages, while ours hardly changes. Node's CPU time per
message (every thread of its process, over the burst) is compared with ours too: what each
would reach on a core of its own, whatever the emulator and the machine's other work allow.
A raw grpcio stream on the same emulator is measured in the same rounds: the ceiling that
the emulator and TLS set on this machine. Skipped, with a line saying so, without Node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import receives

from spectrum_sync import Client, QuotaLimits

from _harness import (
    LINE,
    PEER,
    Figure,
    alternate,
    alternate_named,
    can_set_servers_apart,
    certificate,
    emulator_process,
    get,
    line_token,
    post,
    ratios,
    run_apart,
)

PACKAGES = ("@photon-ai/advanced-imessage@2.2.0", "nice-grpc@2.1.18",
            "nice-grpc-common@2.0.4", "@grpc/grpc-js@1.14.7")
RECEIVE_PACKAGES = ("@spectrum-ts/core@12.8.0", "@spectrum-ts/imessage@12.8.0")
DRIVER = """
import { createGrpcClient } from "@photon-ai/advanced-imessage";
const [address, token, chat, count] = process.argv.slice(2);
const im = createGrpcClient({ address, token, tls: false, autoIdempotency: true,
                              timeout: 30000 });
await im.messages.sendText(chat, "warm up");
const start = process.hrtime.bigint();
for (let n = 0; n < Number(count); n++) await im.messages.sendText(chat, `hello ${n}`);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(JSON.stringify({ rate: Number(count) / seconds }));
process.exit(0);
"""


RECEIVE_DRIVER = """
import { Spectrum } from "@spectrum-ts/core";
import { imessage } from "@spectrum-ts/imessage";
const [address, token, phone, bursts] = process.argv.slice(2);
const app = await Spectrum({
  providers: [imessage.config({ clients: [{ address, token, phone }] })], telemetry: false });
const stream = app.messages[Symbol.asyncIterator]();
let next = stream.next();  // subscribes
console.log(JSON.stringify({ ready: true }));
for (const count of bursts.split(",").map(Number)) {
  for (let seen = 0; ; next = stream.next()) {
    const { value } = await next;
    const [, message] = value;
    if (message.direction !== "outbound" && ++seen === count) break;
  }
  next = stream.next();
  console.log(JSON.stringify({ done: (performance.timeOrigin + performance.now()) / 1000 }));
}
process.exit(0);
"""


def _sdk_folder(name: str = "bench-official-sdk", packages: tuple[str, ...] = PACKAGES,
                driver: str = DRIVER) -> Path | None:
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        return None
    base = os.environ.get("SPECTRUM_INTEROP_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spectrum_sync")
    folder = Path(base) / name
    if not (folder / "installed.ok").exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text('{"private": true, "type": "module"}\n')
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
                        *packages], cwd=folder, check=True, timeout=600)
        (folder / "installed.ok").write_text("\n".join(packages))
    (folder / "driver.mjs").write_text(driver)
    return folder


def _settled_streams(env: dict[str, str]) -> None:
    """Wait until some streams are open and their number has not changed for 0.3 s."""
    deadline = time.monotonic() + 60
    last, since = -1, time.monotonic()
    while True:
        count = int(get(f"{env['SPECTRUM_CLOUD_URL']}/_emulator/state")["open_streams"])
        if count != last:
            last, since = count, time.monotonic()
        elif count > 0 and time.monotonic() - since > 0.3:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("the official SDK's streams did not open")
        time.sleep(0.01)


class Burst(NamedTuple):
    """What a receiver made of one burst: messages per second, and its CPU seconds per
    message (every thread of its process; None where /proc cannot tell)."""

    rate: float
    cpu_per_message: float | None


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux's /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def official_receive_round(folder: Path, env: dict[str, str], counts: Sequence[int],
                           ) -> list[Burst]:
    """What spectrum-ts's ``app.messages`` loop makes of each burst, one after the other,
    in one Node process."""
    address = env["SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"].replace("127.0.0.1", "localhost")
    node_env = {**os.environ, "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": env["SPECTRUM_TLS_CA_FILE"],
                "NODE_EXTRA_CA_CERTS": env["SPECTRUM_TLS_CA_FILE"]}
    receives.wait_streams(env, 0)
    proc = subprocess.Popen(["node", str(folder / "driver.mjs"), address, line_token(env),
                             LINE, ",".join(map(str, counts))], cwd=folder, env=node_env,
                            stdout=subprocess.PIPE, text=True)
    bursts = []
    try:
        assert proc.stdout is not None
        lines = iter(proc.stdout.readline, "")
        next(line for line in lines if line.startswith('{"ready"'))
        _settled_streams(env)
        for count in counts:
            cpu0, start = _cpu_seconds(proc.pid), time.time()
            post(f"{env['SPECTRUM_CLOUD_URL']}/_emulator/inbound",
                 {"from": PEER, "text": "load", "line": LINE, "count": count})
            done = next(line for line in lines if line.startswith('{"done"'))
            cpu1 = _cpu_seconds(proc.pid)  # Node waits for the next burst meanwhile
            cpu = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / count
            bursts.append(Burst(count / (float(json.loads(done)["done"]) - start), cpu))
        return bursts
    finally:
        if proc.wait(120) != 0:
            raise RuntimeError("the official SDK's receive driver failed")


def measure_receive(events: int, rounds: int, warm_up: int = 3000) -> list[Figure]:
    """Rounds of three bursts per receiver (see the module docstring): ``events``, then
    ``warm_up``, then ``events`` again."""
    if not shutil.which("openssl"):  # for the TLS emulator's certificate
        print("official SDK receive comparison skipped: openssl is not installed")
        return []
    folder = _sdk_folder("bench-spectrum-ts", RECEIVE_PACKAGES, RECEIVE_DRIVER)
    if folder is None:
        print("official SDK receive comparison skipped: node and npm are not installed")
        return []
    bursts = (events, warm_up, events)
    with certificate() as pem, emulator_process((LINE,), tls=pem) as env:
        official_receive_round(folder, env, (50,))  # warm-up of the machinery, not measured
        receives.client_round(env, 50)
        receives.raw_round(env, 50)
        url = env["SPECTRUM_CLOUD_URL"]
        # Each round: a receiver's bursts, in order (official Bursts, or receives.Rounds).
        runs: dict[str, Callable[[], Sequence[Any]]] = {
            "theirs": lambda: official_receive_round(folder, env, bursts),
            "mine": lambda: receives.client_bursts(env, bursts),
            "raw": lambda: receives.raw_bursts(env, bursts)}
        # The emulator on a core of its own, as a remote service would be, and each
        # receiver on the others (the receive section's model); rounds of both receivers
        # sharing every core with it, as the figure was first measured, are printed beside.
        measured = {name: run_apart(run, url) for name, run in runs.items()}
        if can_set_servers_apart():
            measured.update({"theirs_shared": runs["theirs"], "mine_shared": runs["mine"]})
        taken = alternate_named(rounds, measured)
    theirs_all, mine_all, raw_all = taken["theirs"], taken["mine"], taken["raw"]
    # The steady state: each receiver's last burst.
    theirs, mine, raw = [r[-1] for r in theirs_all], [r[-1] for r in mine_all], [
        r[-1] for r in raw_all]
    theirs_rate, mine_rate, raw_rate = ([b.rate for b in side] for side in (theirs, mine, raw))
    figures = [
        Figure("spectrum-ts app.messages receive rate", theirs_rate, "msgs/s"),
        Figure("client.messages() receive rate (TLS)", mine_rate, "msgs/s"),
        # The budget is the issue's figure: one burst, each receiver fresh. Past V8's warm-up
        # the ratio is bounded by the raw stream's (the emulator's stream rate), printed next.
        ratios("receive rate vs official spectrum-ts", mine_rate, theirs_rate,
               "steady; ceiling below"),
        ratios("  same, first burst of a fresh receiver", [r[0].rate for r in mine_all],
               [r[0].rate for r in theirs_all], ">= 2.5"),
        # The ceiling: a raw grpcio stream on the same TLS emulator, same bursts.
        ratios("raw TLS stream rate vs official spectrum-ts", raw_rate, theirs_rate),
        ratios("receive rate vs raw TLS stream", mine_rate, raw_rate)]
    if "mine_shared" in taken:
        figures += [
            ratios(f"  same, the emulator sharing the cores{label}",
                   [r[burst].rate for r in taken["mine_shared"]],
                   [r[burst].rate for r in taken["theirs_shared"]])
            for burst, label in ((-1, ""), (0, ", first burst"))]
    node_cpu = [b.cpu_per_message for b in theirs if b.cpu_per_message is not None]
    if len(node_cpu) == len(theirs):
        # What a receiver with a core of its own would reach: their CPU per message over
        # ours (and over a raw grpcio stream's, the ceiling for any grpcio client).
        figures += [
            ratios("spectrum-ts CPU per message vs client.messages()", node_cpu,
                   [r.cpu_per_event for r in mine]),
            ratios("spectrum-ts CPU per message vs raw TLS stream", node_cpu,
                   [r.cpu_per_event for r in raw])]
    return figures


def measure(env: dict[str, str], calls: int, rounds: int) -> list[Figure]:
    folder = _sdk_folder()
    if folder is None:
        print("official SDK comparison skipped: node and npm are not installed")
        return []
    with Client(env=env, quota_limits=QuotaLimits(None, None)) as client:
        space = client.space.create(client.user(PEER, resolve=False), phone=LINE)
        address = env["SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"]
        token = line_token(env)

        def official() -> float:
            out = subprocess.run(["node", str(folder / "driver.mjs"), address, token,
                                  space.id, str(calls)], cwd=folder, check=True,
                                 capture_output=True, text=True, timeout=300).stdout
            return float(json.loads(out.strip().splitlines()[-1])["rate"])

        def ours() -> float:
            space.send("warm up")
            start = time.perf_counter()
            for n in range(calls):
                space.send(f"hello {n}")
            return calls / (time.perf_counter() - start)

        theirs, mine = alternate(rounds, official, ours)
    return [Figure("official SDK sequential sends", theirs, "sends/s"),
            Figure("space.send() sequential sends", mine, "sends/s"),
            ratios("sequential send rate vs official SDK", mine, theirs, "higher is better")]
