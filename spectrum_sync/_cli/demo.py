"""``spectrum-sync demo``: the whole client surface against an embedded emulator."""

from __future__ import annotations

import argparse

from spectrum_sync._cli.common import Session, positive_float

#: The demo always runs against an emulator of its own.
EMULATOR_ONLY = True

HELP = ("Run a scripted conversation against an embedded emulator: users, a DM and a group, "
        "send, edit, tapback, typing, an inbound reply received through client.messages(), "
        "quota and health, with the time of each call. Needs no credentials and no network. "
        "Exit status 0 when every step worked.")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", dest="emulator_plan", choices=["dedicated", "shared"],
                        default=argparse.SUPPRESS, help="plan of the emulator (default: "
                        "dedicated; shared shows what that plan refuses)")
    parser.add_argument("--lines", dest="emulator_lines", metavar="N1,N2",
                        default=argparse.SUPPRESS, help="lines of the emulator")
    parser.add_argument("--wait", type=positive_float, default=10.0, metavar="SEC",
                        help="how long to wait for the inbound message (default: %(default)g)")


def run(args: argparse.Namespace, session: Session) -> int:
    from spectrum_sync._demo import run_demo

    session.configure_logging()
    with session.throwaway_emulator(announce=False) as emu:  # the transcript says where
        return run_demo(emu, session.out, err=session.err, timeout=args.wait)
