"""``spectrum-sync demo``: the whole client surface against an embedded emulator."""

from __future__ import annotations

import argparse
import os
import time

from spectrum_sync._cli.common import Session, positive_float
from spectrum_sync._envnames import EMULATOR_UI

#: Set (to anything but empty or 0), the same as ``--ui``.
UI_VARIABLE = EMULATOR_UI

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
    parser.add_argument("--ui", action="store_true",
                        default=os.environ.get(UI_VARIABLE, "") not in ("", "0"),
                        help="print the address of the emulator's web page (opened in a "
                        f"browser where there is one), and keep serving it after the demo "
                        f"until Ctrl-C (also: {UI_VARIABLE}=1)")


def run(args: argparse.Namespace, session: Session) -> int:
    from spectrum_sync._demo import run_demo

    session.configure_logging()
    with session.throwaway_emulator(announce=False) as emu:  # the transcript says where
        if args.ui:
            from spectrum_sync.emulator.cli import open_in_browser

            session.err.write(f"web page: {emu.ui_url}\n")
            session.err.flush()
            open_in_browser(emu.ui_url)
        status = run_demo(emu, session.out, err=session.err, timeout=args.wait)
        if args.ui:
            session.err.write(f"the emulator keeps serving {emu.ui_url}; Ctrl-C stops it\n")
            session.err.flush()
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return status
