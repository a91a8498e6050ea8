"""The twin test: the official spectrum-ts (12.8.0) and spectrum_sync go through the same user
actions against two identical emulators, and the requests each emulator recorded are compared
field by field, after GUIDs are replaced by the order they first appeared in.

What the official SDK sends is what the service accepts: every difference either vanished or
is listed in ``DELIBERATE`` with its reason. spectrum-ts reaches the emulator through explicit
TLS clients (it always dials TLS), so its emulator serves TLS with the test certificate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from support.receiving import all_live, take, wait_until
from support.tools import npm_folder

from spectrum_sync import Client
from spectrum_sync.emulator import Emulator

HERE = Path(__file__).resolve().parent
PACKAGES = ("@spectrum-ts/core@12.8.0", "@spectrum-ts/imessage@12.8.0")
LINE, PEER, OTHER = "+15550000001", "+15551111111", "+15552222222"
RECEIVING = {"SubscribeMessageEvents", "SubscribeGroupEvents", "SubscribePollEvents",
             "SubscribeChatEvents", "CatchUpEvents"}

#: Requests only spectrum_sync makes, with the reason.
DELIBERATE = {
    "GetAddressInfo": "client.user() resolves the address (service and country, and a clear "
                      "error for an unknown one); spectrum-ts's user() takes it as given",
    "CatchUpEvents": "a new client learns the head and replays once its subscriptions are "
                     "confirmed, so that nothing sent during its start is lost; spectrum-ts "
                     "starts live without a catch-up (one head drain and one replay per line)",
    "SubscribeChatEvents": "chat events (marked read, archived, backgrounds) are received like "
                           "the other families; spectrum-ts does not read them",
}

pytestmark = pytest.mark.interop

_GUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}|chat[0-9a-f]{8,}")


class Normaliser:
    """GUIDs -> <1>, <2>, ... in the order they first appear (per side)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        return _GUID.sub(lambda m: self.names.setdefault(m.group(), f"<{len(self.names) + 1}>"),
                         text)


def _recorded(emu: Emulator) -> tuple[list[tuple[str, str, bool]], set[str]]:
    """(method, normalised request, carries x-idempotency-key) of the calls made by actions,
    and the set of receiving methods."""
    normalise = Normaliser()
    actions, receiving = [], set()
    for call in emu.requests:
        if call.method in RECEIVING:
            receiving.add(call.method)
            continue
        assert call.request is not None
        fields = json.dumps(MessageToDict(call.request), sort_keys=True, ensure_ascii=False)
        actions.append((call.method, normalise(fields), "x-idempotency-key" in call.metadata))
    return actions, receiving


def _official(emu: Emulator, certificate: tuple[str, str]) -> dict[str, Any]:
    folder = npm_folder("twin", PACKAGES, module=True)
    script = folder / "twin_driver.mjs"
    shutil.copyfile(HERE / "twin_driver.mjs", script)
    env = {**os.environ, "TWIN_ADDRESS": f"localhost:{emu.grpc_port}",
           "TWIN_TOKEN": emu.token(LINE), "TWIN_LINE": LINE, "TWIN_PEER": PEER,
           "TWIN_OTHER": OTHER, "TWIN_ADMIN": emu.cloud_url,
           # The emulator's self-signed certificate: grpc-js reads its trusted roots from
           # the first, Node's fetch (the admin API, HTTPS too) from the second.
           "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": certificate[0],
           "NODE_EXTRA_CA_CERTS": certificate[0]}
    proc = subprocess.run(["node", str(script)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"driver failed:\n{proc.stderr}\n{proc.stdout}"
    # The SDK logs to stdout too: the driver's answer is its one JSON object line.
    line = next(ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith('{"'))
    result: dict[str, Any] = json.loads(line)
    return result


def _ours(emu: Emulator) -> dict[str, Any]:
    with emu.client() as client:
        alice, bob = client.user(PEER), client.user(OTHER)
        dm = client.space.create(alice, phone=LINE)
        group = client.space.create([alice, bob], phone=LINE)
        sent = dm.send("Hello twin")
        dm.send("Boom", effect="slam")
        with dm.typing():
            pass
        sent.react("❤️")
        sent.unreact("❤️")
        reply = sent.reply("a reply")
        sent.edit("Hello twin!")
        reply.unsend()
        client.space.get(dm.id, phone=LINE).send("via get")
        group.send("Hello group")
        return {"dm": dm.id, "group": group.id, "received": _receive(emu, client)}


def _receive(emu: Emulator, client: Client) -> str:
    inbox = client.messages()
    assert wait_until(lambda: all_live(client), timeout=20)
    threading.Timer(0.1, emu.simulate_inbound, (PEER, "Hello back"),
                    {"line": LINE}).start()
    (message,) = take(inbox, 1)
    inbox.close()
    return str(message.text)


def test_the_same_actions_send_the_same_requests(make_emulator: Any,
                                                 certificate: tuple[str, str]) -> None:
    theirs_emu = make_emulator(plan="dedicated", lines=[LINE], tls=certificate,
                               heartbeat_interval=1.0)
    ours_emu = make_emulator(plan="dedicated", lines=[LINE], heartbeat_interval=1.0)
    theirs_out = _official(theirs_emu, certificate)
    ours_out = _ours(ours_emu)
    assert theirs_out["received"] == ours_out["received"] == "Hello back"

    theirs, theirs_receiving = _recorded(theirs_emu)
    ours, ours_receiving = _recorded(ours_emu)
    only_ours = [call for call in ours if call[0] in DELIBERATE]
    assert [c[0] for c in only_ours] == ["GetAddressInfo", "GetAddressInfo"]
    ours = [call for call in ours if call[0] not in DELIBERATE]
    assert not [c for c in theirs if c[0] in DELIBERATE]
    # Field by field, in order (GUIDs normalised): the same requests, the same idempotency.
    for index, (mine, official) in enumerate(zip(ours, theirs)):
        assert mine == official, f"action request {index} differs"
    assert len(ours) == len(theirs)
    assert [c[0] for c in theirs] == [
        "CreateChat", "CreateChat", "SendTextMessage", "SendTextMessage", "SetTyping",
        "SetTyping", "SetReaction", "SetReaction", "SendTextMessage", "EditMessage",
        "UnsendMessage", "SendTextMessage", "SendTextMessage"]
    # Receiving: the same live streams; the catch-ups are ours alone (see DELIBERATE).
    assert ours_receiving - {"CatchUpEvents", "SubscribeChatEvents"} == theirs_receiving
    assert {"CatchUpEvents", "SubscribeChatEvents"} <= ours_receiving
