"""The demo (``spectrum-sync emulator --demo``): the whole client surface against the emulator.

It plays both sides: the library talks to the emulator over real sockets, and the emulator
plays Alice and Bob writing back.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the emulator is imported by the caller; keep this module light
    from spectrum_sync.emulator import Emulator


def run_demo(emu: Emulator, out: TextIO) -> int:
    """Run the scripted conversation; returns an exit code (0 when every step worked)."""
    import spectrum_sync as spectrum

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    lines = [info.number for info in emu.lines if info.number]
    say(f"Spectrum emulator ({emu.plan}) at {emu.grpc_address}, lines {', '.join(lines)}")
    with spectrum.Client.connect_emulator(emu) as client:
        alice = client.user("+1 (555) 111-1111")
        bob = client.user("  Bob@Example.com ")
        say(f"client.user(...)      -> {alice}")
        say(f"client.user(...)      -> {bob}")

        dm = client.space.create(alice)
        say(f"client.space.create   -> {dm}   (a line picked at random, then pinned)")
        sent = dm.send("Hi Alice")
        say(f"dm.send('Hi Alice')   -> message {sent.guid}")
        edited = sent.edit("Hi Alice!")
        say(f"sent.edit(...)        -> text now {edited.text!r}")
        sent.react("❤️")
        say("sent.react('❤️')       -> tapback set")
        with dm.typing():
            say("with dm.typing():     -> typing indicator on, then off")
        dm.mark_read()

        if client.mode != "shared":
            group = client.space.create([alice, bob], phone=dm.phone)
            say(f"group space           -> {group.id} with {len(group.participants())} people")
            group.send("Welcome, both of you")

        # Inbound: Alice answers while we listen; the reply goes back through her line.
        streams = 2 if client.mode == "shared" else 3 * len(client.phones)

        def alice_answers() -> None:
            emu.wait_for_subscribers(streams)  # the client is live on every line
            emu.simulate_inbound(alice.address, "Hello back!", line=dm.phone, reply_to=sent.guid)

        threading.Thread(target=alice_answers, daemon=True).start()
        for msg in client.messages():
            who = msg.sender.address if msg.sender else "?"
            say(f"received              <- {who}: {msg.text!r} (reply to {msg.reply_to_guid})")
            answer = msg.reply("got it")
            say(f"msg.reply('got it')   -> via line {answer.space.phone}")
            break

        usage = client.quota(dm.phone)
        say(f"client.quota          -> {usage}")
        health = client.health()[dm.phone]
        say(f"client.health         -> {dm.phone}: {health.state}, {health.reconnects} reconnects")
        say(f"user cache            -> {client.user_cache_stats()}")
    say("demo finished: every step worked")
    return 0
