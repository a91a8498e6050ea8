"""``spectrum-sync listen``: print what arrives, one event per line, until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from spectrum_sync._cli.common import CommandError, Session, UsageError, positive_int

if TYPE_CHECKING:
    from spectrum_sync import Client, Event, Inbox

HELP = ("Print received messages, one per line (JSON lines with --json), until Ctrl-C or "
        "--count. With --state the position is kept: a restart resumes after the last "
        "event printed (an event cut short by Ctrl-C comes again: at-least-once).")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", metavar="URL",
                        help="where to keep the position, e.g. sqlite:///listen.db (default: "
                             "memory: start with what arrives from now on)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--count", type=positive_int, metavar="N",
                        help="stop after N events")
    parser.add_argument("--events", action="store_true",
                        help="every kind of event (reactions, edits, reads, groups...), not "
                             "only messages")
    parser.add_argument("--kinds", metavar="K1,K2",
                        help="only these event kinds (implies --events): message, reaction, "
                             "edit, unsend, read, sticker, group, poll")
    parser.add_argument("--phone", metavar="LINE", help="only this line")
    parser.add_argument("--include-own", action="store_true",
                        help="also our own sends (echoed by the server)")


class _Terminated(BaseException):
    """SIGTERM: stop like Ctrl-C, closing the client on the way out (a BaseException, as
    KeyboardInterrupt is, so that no `except Exception` on the way swallows it)."""


def run(args: argparse.Namespace, session: Session) -> int:
    session.configure_logging()
    show = _json if args.json else _text
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with session.client(state=args.state) as client:
            deadline = time.monotonic() + session.timeout
            inbox = _inbox(client, args)
            with inbox:
                _wait_until_live(session, client, deadline)
                _announce(session, client)
                # From now on a failure is not the end: show the library's warnings
                # (reconnects, state-store failures) while it recovers.
                session.configure_logging(logging.WARNING)
                for n, event in enumerate(inbox, 1):
                    session.print(show(event))
                    if n == args.count:
                        break  # a clean exit of `with inbox` commits this last event
    except _Terminated:
        return 143  # 128 + SIGTERM, as a shell reports it
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated()


def _inbox(client: Client, args: argparse.Namespace) -> Inbox[Event]:
    if args.phone is not None and args.phone not in client.phones:
        # The filter alone would wait forever for a line that does not exist.
        raise UsageError(f"no line with phone number {args.phone!r}; available numbers: "
                         f"{', '.join(client.phones)}")
    if args.events or args.kinds:
        kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
        return client.events(kinds, phone=args.phone, include_own=args.include_own)
    inbox: Inbox[Any] = client.messages(phone=args.phone, include_own=args.include_own)
    return inbox


def _wait_until_live(session: Session, client: Client, deadline: float) -> None:
    """Wait (until ``deadline``) for every line's streams to be live: fail when no line could
    be reached at all, warn about those that could not; the library keeps retrying them."""
    while True:
        health = client.health()
        behind = {phone: h for phone, h in health.items() if h.state != "live"}
        if not behind or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    unreached = {phone: h for phone, h in behind.items()
                 if h.last_frame_at is None and h.state in ("backoff", "starting")}
    if not unreached:
        return  # live, or busy catching up with what arrived while away
    addresses = {info.phone: info.address for info in client.lines}
    details = "; ".join(f"{phone} at {addresses.get(phone, '?')}: {h.last_error or h.state}"
                        for phone, h in unreached.items())
    if len(unreached) == len(health):
        raise CommandError(f"cannot receive: no line answered within {session.timeout:g} s "
                           f"({details})")
    session.info(f"warning: not receiving yet from {details}; retrying in the background")


def _announce(session: Session, client: Client) -> None:
    if client.mode == "local":
        session.info(f"listening to this Mac's Messages ({client!r}); Ctrl-C stops")
        return
    session.info(f"listening on {', '.join(client.phones)} ({client.mode} plan); "
                 f"Ctrl-C stops")
    emu = session.emulator
    if emu is not None:
        body = json.dumps({"from": "+15551111111", "text": "hello"})
        session.info(f"make the emulator deliver a message: curl -s -X POST "
                     f"-H 'Content-Type: application/json' -d '{body}' "
                     f"{emu.cloud_url}/_emulator/inbound")


def _json(event: Event) -> str:
    from spectrum_sync._cli.events import as_json

    return as_json(event)


def _text(event: Event) -> str:
    from spectrum_sync._cli.events import as_text

    return as_text(event)
