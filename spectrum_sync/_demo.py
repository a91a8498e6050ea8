"""The demo (``spectrum-sync demo``, ``spectrum-sync emulator --demo``): the whole client
surface against the emulator, one timed line per call.

It plays both sides: the library talks to the emulator over real sockets, and the emulator
plays Alice writing back. Each step also checks its outcome, so the exit status says whether
everything worked.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Callable, TextIO, TypeVar

if TYPE_CHECKING:  # the emulator is imported by the caller; keep this module light
    import spectrum_sync as spectrum
    from spectrum_sync.emulator import Emulator

__all__ = ["run_demo"]

T = TypeVar("T")

ALICE = "+1 (555) 111-1111"
BOB = "  Bob@Example.com "


class _StepFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


class _Transcript:
    """Runs the steps, timing each and writing one line per step."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.steps = 0

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def step(self, label: str, action: Callable[[], T], show: Callable[[T], str]) -> T:
        start = time.perf_counter()
        try:
            value = action()
            shown = show(value)  # show() may check the outcome too
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            raise _StepFailed(label, f"{type(exc).__name__}: {reason}") from exc
        elapsed = (time.perf_counter() - start) * 1000
        self.steps += 1
        self.say(f"{elapsed:7.1f} ms  {label:<46} {shown}")
        return value


def _check(condition: bool, reason: str) -> None:
    if not condition:
        raise AssertionError(reason)


def run_demo(emu: Emulator, out: TextIO, *, err: TextIO | None = None,
             timeout: float = 10.0) -> int:
    """Run the scripted conversation against the running ``emu``, writing the transcript
    to ``out``; returns the exit status: 0 when every step worked, else 1 after one line on
    ``err`` (default stderr) naming the step that failed. ``timeout`` bounds the wait for
    the inbound message."""
    import spectrum_sync as spectrum

    t = _Transcript(out)
    numbers = ", ".join(info.number or info.instance_id for info in emu.lines)
    t.say(f"spectrum_sync {spectrum.__version__} against an embedded emulator of Spectrum "
          f"Cloud ({emu.plan} plan, lines {numbers})")
    t.say(f"emulator: gRPC {emu.grpc_address}, REST {emu.cloud_url}")
    t.say("")
    t.say(f"{'time':>10}  {'call':<46} result")
    started = time.perf_counter()
    try:
        with spectrum.Client.connect_emulator(emu, env={}) as client:
            _conversation(emu, client, t, timeout)
    except _StepFailed as failure:
        line = " ".join(f"demo failed at {failure.step}: {failure.reason}".split())
        (err or sys.stderr).write(line + "\n")
        return 1
    total = time.perf_counter() - started
    t.say("")
    t.say(f"demo finished in {total:.2f} s: every step worked ({t.steps} steps)")
    return 0


def _user(user: spectrum.User) -> str:
    return f"User {user.address} ({user.country or 'no country'}, {user.service})"


def _conversation(emu: Emulator, client: spectrum.Client, t: _Transcript,
                  timeout: float) -> None:
    import spectrum_sync as spectrum

    shared = emu.plan == "shared"
    alice = t.step(f"alice = client.user({ALICE!r})", lambda: client.user(ALICE),
                   lambda u: f"{_user(u)}; first call: token exchange + connect")
    bob = t.step(f"bob = client.user({BOB!r})", lambda: client.user(BOB), _user)

    dm = t.step("dm = client.space.create(alice)", lambda: client.space.create(alice),
                lambda s: f"{s.type} {s.id} on line {s.phone}"
                          + ("" if shared else " (picked at random, then pinned)"))
    t.step("client.space.get(dm.id)", lambda: client.space.get(dm.id),
           lambda s: f"same space, line {s.phone} (no network call)")

    group: spectrum.Space | None = None
    if shared:
        def refused() -> str:
            try:
                client.space.create([alice, bob])
            except spectrum.UnsupportedError as exc:
                return f"UnsupportedError, as expected: {exc.message}"
            raise AssertionError("the shared plan created a group chat")

        t.step("client.space.create([alice, bob])", refused, str)
    else:
        group = t.step("group = client.space.create([alice, bob])",
                       lambda: client.space.create([alice, bob], phone=dm.phone),
                       lambda s: f"{s.type} {s.id} on line {s.phone} (the DM's)")

    sent = t.step("sent = dm.send('Hi Alice')", lambda: dm.send("Hi Alice"),
                  lambda m: f"message {m.guid}")

    def edited_text(m: spectrum.Message) -> str:
        _check(m.text == "Hi Alice!", f"the text is {m.text!r}")
        return f"text now {m.text!r}"

    t.step("sent.edit('Hi Alice!')", lambda: sent.edit("Hi Alice!"), edited_text)
    t.step("sent.react('❤️')", lambda: sent.react("❤️"), lambda _: "tapback set")
    t.step("sent.unreact('❤️')", lambda: sent.unreact("❤️"), lambda _: "tapback removed")

    def typing() -> None:
        with dm.typing():
            pass

    t.step("with dm.typing(): ...", typing, lambda _: "indicator on, then always off")
    oops = t.step("oops = dm.send('wrong chat, sorry')", lambda: dm.send("wrong chat, sorry"),
                  lambda m: f"message {m.guid}")
    t.step("oops.unsend()", lambda: oops.unsend(), lambda _: "retracted")
    if group is not None:
        t.step("group.participants()", group.participants,
               lambda ps: ", ".join(p.address for p in ps))
        t.step("group.send('Welcome, both of you')",
               lambda: group.send("Welcome, both of you"), lambda m: f"message {m.guid}")
    t.step("dm.mark_read()", dm.mark_read, lambda _: "read")

    _receive(emu, client, t, timeout, alice, dm, sent)

    def quota(u: spectrum.QuotaUsage) -> str:
        _check(u.messages > 0, "no message counted")
        return (f"{u.messages}/{u.messages_limit} messages, {u.new_conversations}/"
                f"{u.new_conversations_limit} new conversations today (UTC {u.day}, "
                f"as this client counted them)")

    t.step(f"client.quota({dm.phone!r})", lambda: client.quota(dm.phone), quota)

    def idle(health: dict[str, spectrum.LineHealth]) -> str:
        states = {phone: h.state for phone, h in health.items()}
        _check(set(states.values()) == {"idle"}, f"expected idle lines, got {states}")
        return ", ".join(f"{p} idle" for p in states) + " (not receiving any more)"

    t.step("client.health()", client.health, idle)
    t.step(f"client.user({ALICE!r})", lambda: client.user(ALICE),
           lambda u: f"{u.address} again, from the cache (no network call)")
    t.step("client.user_cache_stats()", client.user_cache_stats,
           lambda s: f"{s.hits} hit(s), {s.misses} miss(es), {s.size} entries")


def _receive(emu: Emulator, client: spectrum.Client, t: _Transcript, timeout: float,
             alice: spectrum.User, dm: spectrum.Space, sent: spectrum.Message) -> None:
    """Listen, let Alice answer on the emulator, receive and reply."""
    inbox = t.step("with client.messages() as inbox:", client.messages,
                   lambda _: f"listening on {len(client.phones)} line(s)")
    with inbox:
        line = None if emu.plan == "shared" else dm.phone
        t.step("(emulator) Alice answers",
               lambda: emu.simulate_inbound(alice.address, "Hello back!", line=line,
                                            reply_to=sent.guid),
               lambda guid: f"inbound message {guid}")

        def receive() -> spectrum.Message:
            # If nothing comes, closing the client ends the wait (the loop then stops).
            watchdog = threading.Timer(timeout, client.close)
            watchdog.daemon = True
            watchdog.start()
            try:
                msg = next(inbox, None)
            finally:
                watchdog.cancel()
            if msg is None:
                raise TimeoutError(f"no message within {timeout:g} s")
            return msg

        def received(m: spectrum.Message) -> str:
            _check(m.text == "Hello back!" and m.reply_to_guid == sent.guid,
                   f"unexpected message {m.text!r} (reply to {m.reply_to_guid})")
            who = m.sender.address if m.sender else "?"
            return f"{who}: {m.text!r}, a reply to {m.reply_to_guid}"

        msg = t.step("for msg in inbox:  (the first)", receive, received)
        t.step("msg.reply('got it')", lambda: msg.reply("got it"),
               lambda a: f"message {a.guid} via line {a.space.phone}")

        def live() -> dict[str, str]:
            # The streams confirm their subscriptions in the background: give them a moment.
            deadline = time.monotonic() + min(timeout, 5.0)
            while True:
                states = {p: h.state for p, h in client.health().items()}
                if set(states.values()) == {"live"} or time.monotonic() > deadline:
                    return states
                time.sleep(0.01)

        t.step("client.health() while receiving", live,
               lambda states: ", ".join(f"{p} {s}" for p, s in states.items()))
    # Leaving the block cleanly committed the last message and closed the streams.
