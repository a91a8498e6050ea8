"""What every subcommand shares: the option parser class, the global options, the errors that
end a command, and :class:`Session` (output, logging, and the client to use: from the
environment, or bound to a throwaway emulator with ``--emulator``)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from spectrum_sync._envnames import PROJECT_ID, PROJECT_SECRET

if TYPE_CHECKING:
    from spectrum_sync import Client
    from spectrum_sync.emulator import Emulator

__all__ = [
    "PROG",
    "CommandError",
    "Parser",
    "Session",
    "UsageError",
    "add_common_options",
    "plain_text",
    "positive_float",
    "positive_int",
]

PROG = "spectrum-sync"
DEFAULT_EMULATOR_LINES = "+15550000001,+15550000002"
DEFAULT_TIMEOUT = 30.0


# reST inline markup of docstrings: ``literal`` and :role:`target`.
_LITERAL = re.compile(r"``(.+?)``", re.S)
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def plain_text(docstring: str) -> str:
    """A module docstring as ``--help`` text: reST markup removed, wrapping kept."""
    return _ROLE.sub(r"\1", _LITERAL.sub(r"\1", docstring)).strip()


class UsageError(Exception):
    """Bad input or set-up: one line on stderr, exit status 2."""


class CommandError(Exception):
    """A runtime failure: one line on stderr, exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse, with errors on one line: scripts and CI logs read better than a usage block;
    descriptions (often a module's docstring) are shown without their reST markup."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("description"):
            kwargs["description"] = plain_text(kwargs["description"])
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number above 0: {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer above 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
    return value


def _environment_description() -> str:
    """What the commands read from the environment, from the settings table: what a plain
    ``Client()`` reads, and the webhook secret."""
    from spectrum_sync._config import SETTINGS, environment_help

    read = [s for s in SETTINGS if s.client_env or s.name == "WEBHOOK_SECRET"]
    return "Settings come from the environment: " + environment_help(read) + "."


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """The options accepted before the subcommand and after it.

    Their defaults are SUPPRESS so that a subcommand's parser, which runs after the main
    one, never overwrites a value given before the subcommand; :class:`Session` applies the
    real defaults."""
    group = parser.add_argument_group("common options", _environment_description())
    suppress = argparse.SUPPRESS
    group.add_argument("--emulator", action="store_true", default=suppress,
                       help="run against a throwaway embedded emulator instead of the cloud")
    group.add_argument("--emulator-plan", choices=["dedicated", "shared"], default=suppress,
                       help="plan of the --emulator (default: dedicated)")
    group.add_argument("--emulator-lines", metavar="N1,N2", default=suppress,
                       help=f"lines of the --emulator (default: {DEFAULT_EMULATOR_LINES})")
    group.add_argument("--local", action="store_true", default=suppress,
                       help="use this Mac's own Messages account (reads chat.db, sends with "
                            "osascript) instead of Spectrum Cloud")
    group.add_argument("--chat-db", metavar="PATH", default=suppress,
                       help="the chat.db to read in local mode (implies --local; default: "
                            "~/Library/Messages/chat.db)")
    group.add_argument("--timeout", type=positive_float, metavar="SEC", default=suppress,
                       help=f"deadline of each call (default: {DEFAULT_TIMEOUT:g})")
    group.add_argument("-q", "--quiet", action="store_true", default=suppress,
                       help="no status lines on stderr")
    group.add_argument("-v", "--verbose", action="count", default=suppress,
                       help="show the library's log (twice: debug)")
    group.add_argument("--traceback", action="store_true", default=suppress,
                       help="show the traceback of an unexpected error")


class Session:
    """One run of a subcommand: its streams, its options and how to make its client."""

    def __init__(self, args: argparse.Namespace, command: str, *, emulator_only: bool = False,
                 stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.args = args
        self.prog = f"{PROG} {command}"
        self.out = stdout or sys.stdout
        self.err = stderr or sys.stderr
        self.use_emulator = emulator_only or bool(getattr(args, "emulator", False))
        self.quiet = bool(getattr(args, "quiet", False))
        self.verbose = int(getattr(args, "verbose", None) or 0)
        self.traceback = bool(getattr(args, "traceback", False))
        self.timeout = float(getattr(args, "timeout", DEFAULT_TIMEOUT))
        self.emulator: Emulator | None = None
        self.chat_db: str | None = getattr(args, "chat_db", None)
        self.local = bool(getattr(args, "local", False)) or self.chat_db is not None
        if self.local and self.use_emulator:
            raise UsageError("--local and --emulator exclude each other")
        if not self.use_emulator and any(hasattr(args, name)
                                         for name in ("emulator_plan", "emulator_lines")):
            raise UsageError("--emulator-plan and --emulator-lines go with --emulator")

    # ----- output ---------------------------------------------------------------------

    def print(self, text: str) -> None:
        """A line of the command's result, on stdout (flushed: it may be a pipe)."""
        self.out.write(text + "\n")
        self.out.flush()

    def info(self, text: str) -> None:
        """A status line on stderr (not with --quiet)."""
        if not self.quiet:
            self.err.write(f"{self.prog}: {text}\n")
            self.err.flush()

    def progress(self, text: str) -> None:
        """A progress line, on a terminal only: scripts and logs get results and errors."""
        if self.err.isatty():
            self.info(text)

    def configure_logging(self, default: int = logging.ERROR) -> None:
        """Send the library's log to stderr, at ``default`` level unless -v asks for more.

        A one-shot command reports its own failure in one line, so the library's notes about
        retries would only repeat it: they show with -v."""
        level = {0: default, 1: logging.INFO}.get(self.verbose, logging.DEBUG)
        handler = logging.StreamHandler(self.err)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(name)s: %(message)s"
                                               if self.verbose else
                                               f"{PROG}: %(levelname)s: %(message)s"))
        logger = logging.getLogger("spectrum_sync")
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False

    # ----- the client -----------------------------------------------------------------

    @contextlib.contextmanager
    def client(self, **options: Any) -> Iterator[Client]:
        """The client of this command (closed at the end), with ``options`` for ``Client``."""
        import spectrum_sync as spectrum

        options.setdefault("timeout", self.timeout)
        if self.local:
            with spectrum.Client(local=True, chat_db=self.chat_db, **options) as client:
                yield client
            return
        if not self.use_emulator:
            self._check_credentials()
            with spectrum.Client(**options) as client:
                self.progress(f"connecting to {client.cloud_url} as project "
                              f"{client.project_id}...")
                yield client
            return
        # env={}: variables meant for the real cloud (a CA file...) must not leak in.
        with self.throwaway_emulator() as emu, \
                spectrum.Client.connect_emulator(emu, env={}, **options) as client:
            yield client

    @contextlib.contextmanager
    def throwaway_emulator(self, *, announce: bool = True) -> Iterator[Emulator]:
        """An emulator on free local ports for this command (``--emulator``), stopped after;
        ``announce`` says where it runs on stderr."""
        from spectrum_sync.emulator import Emulator

        plan = getattr(self.args, "emulator_plan", "dedicated")
        text = getattr(self.args, "emulator_lines", DEFAULT_EMULATOR_LINES)
        numbers = [n.strip() for n in text.split(",") if n.strip()]
        if plan == "dedicated" and not numbers:
            raise UsageError("--emulator-lines needs at least one phone number")
        try:
            emu = Emulator(plan=plan, lines=numbers)
        except ValueError as exc:
            raise UsageError(f"--emulator-lines: {exc}") from None
        try:
            emu.start()
        except OSError as exc:
            raise CommandError(f"cannot start the emulator: {exc}") from None
        self.emulator = emu
        try:
            lines = ", ".join(info.number or info.instance_id for info in emu.lines)
            if announce:
                self.info(f"throwaway emulator ({plan} plan, lines {lines}): gRPC "
                          f"{emu.grpc_address}, REST and admin API {emu.cloud_url}")
            yield emu
        finally:
            self.emulator = None
            emu.stop()

    @staticmethod
    def _check_credentials() -> None:
        # Said here in the command line's words (the library names its Python arguments).
        missing = [name for name in (PROJECT_ID, PROJECT_SECRET) if not os.environ.get(name)]
        if missing:
            raise UsageError(
                f"missing credentials: set {' and '.join(missing)} (for a local emulator, "
                f"`eval \"$({PROG} emulator --background)\"` sets them), or add --emulator "
                f"to try a throwaway one")
