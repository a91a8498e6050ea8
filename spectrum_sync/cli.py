"""The ``spectrum-sync`` command line (also ``python -m spectrum_sync``).

Subcommands live in :mod:`spectrum_sync._cli` (one module each, listed in its table). Every
failure ends in one line on stderr: exit status 2 for bad input or set-up (an invalid number,
missing credentials, an unknown line), 1 for runtime failures (the cloud unreachable, a call
refused), 130 for Ctrl-C; no traceback unless ``--traceback`` asks for one.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from spectrum_sync._cli import COMMANDS
from spectrum_sync._cli.common import (
    PROG,
    CommandError,
    Parser,
    Session,
    UsageError,
    add_common_options,
)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``spectrum-sync`` and of every subcommand (commands are imported here:
    their modules are small; what they run is imported when they run)."""
    from spectrum_sync import __version__

    parser = Parser(
        prog=PROG, allow_abbrev=False,
        description="Command line of spectrum_sync, the synchronous client for Spectrum's "
                    "iMessage platform. Credentials come from the environment "
                    "(SPECTRUM_PROJECT_ID, SPECTRUM_PROJECT_SECRET and the variables "
                    "`spectrum-sync emulator` prints); --emulator runs any command against "
                    "a throwaway local emulator.",
        epilog="Start here: spectrum-sync demo",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    add_common_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, command in COMMANDS.items():
        if command.passthrough:
            # Its own parser reads the rest of the line (and answers its own --help).
            commands.add_parser(name, help=command.help, add_help=False)
            continue
        module = importlib.import_module(command.module)
        sub = commands.add_parser(name, help=command.help, description=module.HELP,
                                  allow_abbrev=False)
        module.configure(sub)
        add_common_options(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spectrum-sync`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    ns, extra = parser.parse_known_args(args)
    if ns.command is None:
        print(f"{PROG}: error: name a command: {', '.join(COMMANDS)} (see --help; "
              f"start with: {PROG} demo)", file=sys.stderr)
        return 2
    command = COMMANDS[ns.command]
    if command.passthrough:
        given = sorted(name for name in vars(ns) if name != "command")
        if given:
            # Its own options go after its name; ours would be ignored there.
            parser.error(f"'{ns.command}' takes its options after its name, not "
                         f"--{given[0].replace('_', '-')} before it")
        module: Any = importlib.import_module(command.module)
        return int(module.main(extra))
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return _run(ns)


def _run(ns: argparse.Namespace) -> int:
    from spectrum_sync import (
        ConfigurationError,
        RoutingError,
        SpectrumError,
        UnsupportedError,
        ValidationError,
    )

    prog = f"{PROG} {ns.command}"
    session: Session | None = None
    try:
        module: Any = importlib.import_module(COMMANDS[ns.command].module)
        session = Session(ns, ns.command,
                          emulator_only=bool(getattr(module, "EMULATOR_ONLY", False)))
        return int(module.run(ns, session))
    except KeyboardInterrupt:
        # Ctrl-C is how a listener is meant to stop: quietly, with the shell's status.
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly; Python would complain at exit
        # about the unflushed stdout, so point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (UsageError, CommandError) as exc:
        _fail(prog, str(exc))
        return 2 if isinstance(exc, UsageError) else 1
    except SpectrumError as exc:
        if session is not None and session.traceback:
            raise
        _fail(prog, str(exc))
        bad_input = (ValidationError, ConfigurationError, RoutingError, UnsupportedError)
        return 2 if isinstance(exc, bad_input) else 1
    except Exception as exc:
        if session is not None and session.traceback:
            raise
        _fail(prog, f"unexpected {type(exc).__name__}: {exc} (--traceback shows where)")
        return 1


def _fail(prog: str, message: str) -> None:
    line = " ".join(message.split())  # one line, whatever the message holds
    print(f"{prog}: error: {line}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
