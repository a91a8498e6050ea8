"""The ``spectrum-sync`` command line: dispatches to lazily imported subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spectrum-sync`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="spectrum-sync", description="Tools for the spectrum_sync iMessage client."
    )
    parser.add_argument("command", choices=["emulator"], help="what to run")
    if not args or args[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if args else 2
    ns = parser.parse_args(args[:1])
    if ns.command == "emulator":
        from spectrum_sync.emulator.cli import main as emulator_main

        return emulator_main(args[1:])
    return 2  # pragma: no cover - argparse rejects other commands


if __name__ == "__main__":
    sys.exit(main())
