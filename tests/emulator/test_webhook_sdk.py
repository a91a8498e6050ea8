"""The official SDK accepts the emulator's webhooks: ``@spectrum-ts/core/webhook`` verifies
their signatures and parses their envelopes (run through Node; needs node and npm)."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support.tools import npm_folder
from webhook_receiver import Receiver

from spectrum_sync.emulator import Emulator

PACKAGES = ("@spectrum-ts/core@12.8.0",)
SECRET = "sdk-check-secret"

pytestmark = pytest.mark.interop

CHECK = """
import fs from "node:fs";
import { slimEnvelopeSchema, verifySpectrumSignature } from "@spectrum-ts/core/webhook";

const out = [];
for (const item of JSON.parse(fs.readFileSync(process.argv[2], "utf8"))) {
  const raw = new Uint8Array(Buffer.from(item.body, "base64"));
  const verify = async (rawBody, secret) =>
    (await verifySpectrumSignature({ rawBody, headers: item.headers, secret })).ok;
  const tampered = raw.slice();
  tampered[tampered.length - 2] ^= 1;
  const parsed = slimEnvelopeSchema.safeParse(JSON.parse(Buffer.from(raw).toString("utf8")));
  out.push({
    ok: await verify(raw, process.argv[3]),
    wrongSecret: await verify(raw, "not the secret"),
    tampered: await verify(tampered, process.argv[3]),
    parsed: parsed.success,
    type: parsed.success ? parsed.data.message.content.type : null,
  });
}
console.log(JSON.stringify(out));
"""


def _sdk_dir() -> Path:
    return npm_folder("webhook-sdk", PACKAGES, module=True)


def test_the_official_sdk_verifies_and_parses_every_webhook(
        make_emu: Callable[..., Emulator], tmp_path: Path) -> None:
    folder = _sdk_dir()
    receiver = Receiver()
    try:
        emu = make_emu(lines=["+15550000001"], webhook_url=receiver.url, webhook_secret=SECRET)
        guid = emu.simulate_inbound("+15551111111", "hello ünïcode 🙂")
        emu.simulate_reaction("+15551111111", guid, "👍")
        emu.simulate_inbound("+15551111111", "a reply", reply_to=guid)
        emu.simulate_inbound("+15551111111", "with a file", attachment=("a.png", b"\x89PNG"))
        emu.simulate_group_change("any;+;g1", "rename", actor="+15551111111", name="Name")
        emu.simulate_group_change("any;+;g1", "participant_left", participant="+15551111111")
        poll = emu.simulate_poll("+15552222222", "any;+;g1", "Q?", ["a", "b"])
        emu.simulate_poll_vote("+15552222222", poll, "a")
        with emu.client() as client:  # a receipt is for one of our messages
            ours = client.space.get("any;-;+15551111111").send("ours")
        emu.simulate_read(ours.guid, by="+15551111111")
        received = receiver.wait_for(9)
    finally:
        receiver.close()
    captured = tmp_path / "captured.json"
    captured.write_text(json.dumps([
        {"headers": r.headers, "body": base64.b64encode(r.body).decode()} for r in received]))
    script = folder / "check_webhooks.mjs"
    script.write_text(CHECK)
    proc = subprocess.run(["node", str(script), str(captured), SECRET], capture_output=True,
                          text=True, timeout=120, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == 9
    for result in results:
        assert result["ok"] is True, result
        assert result["wrongSecret"] is False
        assert result["tampered"] is False
        assert result["parsed"] is True
    assert sorted(r["type"] for r in results) == sorted([
        "text", "reaction", "reply", "group", "rename", "leaveSpace", "poll", "poll_option",
        "read"])
