"""The subcommands of ``spectrum-sync``: a table of small modules, imported when parsing.

A subcommand module defines ``HELP`` (one line for ``--help``), ``configure(parser)`` (its
options) and ``run(args, session) -> int`` (the exit status); it imports the client, the
emulator and anything heavy inside ``run`` only, so that ``--help`` and errors stay fast.

A "pass-through" command hands its raw arguments to a ``main(argv) -> int`` of its own (the
emulator has a full command line of its own). To add a command, add a module and one row
below; a command with actions of its own (``webhook verify``) makes them in ``configure``.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["COMMANDS", "Command"]


class Command(NamedTuple):
    """A row of the table: where the command lives and how it is called."""

    module: str
    help: str
    passthrough: bool = False  # module.main(argv) parses its own arguments


COMMANDS: dict[str, Command] = {
    "demo": Command("spectrum_sync._cli.demo",
                    "the whole client surface against an embedded emulator, with timings"),
    "send": Command("spectrum_sync._cli.send", "send one message"),
    "listen": Command("spectrum_sync._cli.listen",
                      "print received messages (or events), one per line"),
    "lines": Command("spectrum_sync._cli.lines", "the plan, its lines and today's quota usage"),
    "doctor": Command("spectrum_sync._cli.doctor",
                      "check credentials, clock, TLS, lines, quotas and the state store"),
    "webhook": Command("spectrum_sync._cli.webhook",
                       "webhook tools: verify a saved delivery (signature, age, events)"),
    "emulator": Command("spectrum_sync.emulator.cli",
                        "run an emulator of Spectrum Cloud (see: spectrum-sync emulator --help)",
                        passthrough=True),
}
