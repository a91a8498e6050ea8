"""Sequential send rate against the official SDK on the same emulator (when Node is here).

The official low-level SDK (``@photon-ai/advanced-imessage``, which the official
``spectrum-ts`` iMessage provider drives) sends N messages one after the other from Node;
``space.send()`` does the same from Python. Skipped, with a line saying so, without Node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from spectrum_sync import Client, QuotaLimits

from _harness import LINE, PEER, Figure, alternate, line_token, ratios

PACKAGES = ("@photon-ai/advanced-imessage@2.2.0", "nice-grpc@2.1.18",
            "nice-grpc-common@2.0.4", "@grpc/grpc-js@1.14.7")
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


def _sdk_folder() -> Path | None:
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        return None
    base = os.environ.get("SPECTRUM_INTEROP_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spectrum_sync")
    folder = Path(base) / "bench-official-sdk"
    if not (folder / "installed.ok").exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text('{"private": true, "type": "module"}\n')
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
                        *PACKAGES], cwd=folder, check=True, timeout=600)
        (folder / "installed.ok").write_text("\n".join(PACKAGES))
    (folder / "driver.mjs").write_text(DRIVER)
    return folder


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
