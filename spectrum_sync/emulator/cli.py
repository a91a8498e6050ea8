"""``spectrum-sync emulator``: run the emulator standalone until interrupted.

It prints ``export NAME=value`` lines (the environment a client needs, plus
``SPECTRUM_EMULATOR_PID``) and then serves; other processes drive it through the admin HTTP
API under ``/_emulator/`` (its token is printed on stderr and exported as
``SPECTRUM_EMULATOR_ADMIN_TOKEN``). SIGINT or SIGTERM stops it cleanly (exit 0).

- ``--env-file PATH`` also writes the exports to ``PATH`` (mode 0600, atomically: the file
  appears complete once the emulator serves, and is removed when it stops); with ``--quiet``
  the exports go to that file only, not to stdout.
- ``--background`` starts the emulator as a detached process and returns once it serves,
  printing the exports, so that ``eval "$(spectrum-sync emulator --background)"`` works in
  shell scripts and CI; ``kill $SPECTRUM_EMULATOR_PID`` stops it. Its output goes to
  ``--log-file`` (default: discarded once it has started); the detached process runs with
  ``--quiet``, so the log holds no copy of the exports (the secret and the admin token).

Errors print one line on stderr and exit non-zero (2 for bad options, 1 otherwise).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from spectrum_sync._envnames import EMULATOR_PID

log = logging.getLogger(__name__)

PROG = "spectrum-sync emulator"
PID_VARIABLE = EMULATOR_PID
BACKGROUND_START_TIMEOUT = 15.0


class CliError(Exception):
    """A failure to report as one line and exit status 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: scripts and CI logs read better.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0: {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _port(text: str) -> int:
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The option parser of ``spectrum-sync emulator``."""
    parser = _Parser(
        prog=PROG, allow_abbrev=False,
        description="Run an emulator of Spectrum Cloud (REST + gRPC) on this machine.",
    )
    parser.add_argument("--plan", choices=["shared", "dedicated"], default="dedicated")
    parser.add_argument(
        "--lines", default="+15550000001",
        help="comma-separated E.164 numbers of the dedicated lines (default: %(default)s)",
    )
    parser.add_argument("--project-id", default="proj")
    parser.add_argument("--project-secret", default="secret")
    parser.add_argument("--token-ttl", type=_positive, default=3600.0, metavar="SEC")
    parser.add_argument("--heartbeat", type=_positive, default=30.0, metavar="SEC",
                        help="heartbeat interval of event streams")
    parser.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate")
    parser.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    parser.add_argument("--daily-message-limit", type=_count, default=5000, metavar="N",
                        help="messages per line per UTC day (default: %(default)s)")
    parser.add_argument("--daily-new-conversation-limit", type=_count, default=50, metavar="N",
                        help="new conversations per line per UTC day (default: %(default)s)")
    limits = parser.add_argument_group(
        "throttles", "the service's other limits, each off unless given (docs/errors.md)")
    limits.add_argument("--burst-per-minute", type=_count, metavar="N",
                        help="sends per line in any minute (burstRateExceeded)")
    limits.add_argument("--per-recipient-per-day", type=_count, metavar="N",
                        help="sends to one recipient per day (recipientLimitExceeded)")
    limits.add_argument("--same-text-per-day", type=_count, metavar="N",
                        help="sends of one text per day (contentDuplicateExceeded)")
    limits.add_argument("--uploads-per-minute", type=_count, metavar="N",
                        help="uploads per line in any minute (uploadRateExceeded)")
    limits.add_argument("--unanswered-per-recipient", type=_count, metavar="N",
                        help="sends in a row without an answer (recipientCoolingDown)")
    limits.add_argument("--send-receive-ratio", type=_positive, metavar="R",
                        help="sends per received message (sendReceiveRatioExceeded)")
    limits.add_argument("--locked-recipient", action="append", default=[], metavar="ADDRESS",
                        help="an address nobody may message (recipientLocked); repeatable")
    limits.add_argument("--idempotency-window", type=_count, default=86400, metavar="SEC",
                        help="how long a repeated x-idempotency-key gets the original answer")
    limits.add_argument("--max-catchups", type=_count, default=16, metavar="N",
                        help="CatchUpEvents served at once before one is refused")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--grpc-port", type=_port, default=0, help="0 picks a free port")
    parser.add_argument("--http-port", type=_port, default=0, help="0 picks a free port")
    parser.add_argument("--admin-token", metavar="TOKEN",
                        help="token of the admin API (default: a random one)")
    parser.add_argument("--webhook-url", metavar="URL",
                        help="POST every inbound event to URL as Spectrum's native webhook")
    parser.add_argument("--webhook-secret", metavar="SECRET",
                        help="signing secret of the webhooks (default: a random one, "
                             "exported as SPECTRUM_WEBHOOK_SECRET)")
    parser.add_argument("--env-file", metavar="PATH",
                        help="also write the export lines to PATH (removed at exit)")
    parser.add_argument("--quiet", action="store_true",
                        help="with --env-file: write the exports to the file only")
    parser.add_argument("--background", action="store_true",
                        help="start detached, print the exports once it serves, and return")
    parser.add_argument("--log-file", metavar="PATH",
                        help="with --background: where the emulator's output goes")
    parser.add_argument("--ui", action="store_true",
                        help="print the address of the emulator's web page and open it in a "
                             "browser where there is one")
    parser.add_argument("--demo", action="store_true",
                        help="run a short scripted conversation against the emulator, then exit")
    return parser


def emulator_kwargs(ns: argparse.Namespace) -> dict[str, Any]:
    """Translate parsed options into ``Emulator(...)`` keyword arguments."""
    from spectrum_sync.emulator.quotas import Throttles  # the parser alone stays light

    if bool(ns.tls_cert) != bool(ns.tls_key):
        raise CliError("--tls-cert and --tls-key go together")
    if ns.webhook_secret is not None and ns.webhook_url is None:
        raise CliError("--webhook-secret needs --webhook-url")
    lines = [n.strip() for n in ns.lines.split(",") if n.strip()]
    if ns.plan == "dedicated" and not lines:
        raise CliError("a dedicated plan needs --lines NUMBER[,...]")
    return {
        "plan": ns.plan,
        "lines": lines,
        "project_id": ns.project_id,
        "project_secret": ns.project_secret,
        "token_ttl": ns.token_ttl,
        "heartbeat_interval": ns.heartbeat,
        "tls": (ns.tls_cert, ns.tls_key) if ns.tls_cert else None,
        "daily_message_limit": ns.daily_message_limit,
        "daily_new_conversation_limit": ns.daily_new_conversation_limit,
        "host": ns.host,
        "grpc_port": ns.grpc_port,
        "http_port": ns.http_port,
        "admin_token": ns.admin_token,
        "webhook_url": ns.webhook_url,
        "webhook_secret": ns.webhook_secret,
        "idempotency_window": ns.idempotency_window,
        "max_concurrent_catchups": max(ns.max_catchups, 1),
        "throttles": Throttles(
            burst_per_minute=ns.burst_per_minute or None,
            per_recipient_per_day=ns.per_recipient_per_day or None,
            same_text_per_day=ns.same_text_per_day or None,
            uploads_per_minute=ns.uploads_per_minute or None,
            unanswered_per_recipient=ns.unanswered_per_recipient or None,
            send_receive_ratio=ns.send_receive_ratio,
            locked_recipients=frozenset(ns.locked_recipient)),
    }


def format_exports(env: dict[str, str]) -> str:
    """``export NAME=value`` lines, shell-quoted."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


def write_env_file(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed over it), mode 0600:
    it holds the project secret and the admin token."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _check_writable_dir(path: str) -> None:
    parent = Path(path).parent
    if not parent.is_dir():
        raise CliError(f"cannot write --env-file {path}: no directory {str(parent)!r}")
    if Path(path).is_dir():
        raise CliError(f"cannot write --env-file {path}: it is a directory")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator (or start it in the background); returns the process exit code."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        if ns.background and ns.demo:
            raise CliError("--background and --demo do not go together")
        if ns.log_file and not ns.background:
            raise CliError("--log-file goes with --background")
        if ns.quiet and not ns.env_file:
            raise CliError("--quiet needs --env-file (the exports must go somewhere)")
        kwargs = emulator_kwargs(ns)
        if ns.env_file:
            _check_writable_dir(ns.env_file)
        if ns.background:
            return _start_background(parser, ns)
        return _serve(ns, kwargs)
    except CliError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _serve(ns: argparse.Namespace, kwargs: dict[str, Any]) -> int:
    from spectrum_sync.emulator import Emulator

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Handlers first: whoever reads the exports may signal us right away, and a signal
    # during start-up must still end in a clean stop.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    env_file_text: str | None = None
    try:
        try:
            emu = Emulator(**kwargs)
            emu.start()
        except (ValueError, OSError) as exc:
            raise CliError(f"cannot start the emulator: {_reason(exc)}") from None
        try:
            if ns.demo:
                from spectrum_sync._demo import run_demo

                return run_demo(emu, sys.stdout)
            env = {**emu.env(), PID_VARIABLE: str(os.getpid())}
            exports = format_exports(env)
            if ns.ui:  # a shell comment: the exports stay eval-able, with --background too
                exports += f"# web page: {emu.ui_url}\n"
            if ns.env_file:
                try:
                    write_env_file(ns.env_file, exports)
                except OSError as exc:
                    raise CliError(f"cannot write --env-file {ns.env_file}: "
                                   f"{_reason(exc)}") from None
                env_file_text = exports
            if not ns.quiet:
                sys.stdout.write(exports)
                sys.stdout.flush()
            token = "$SPECTRUM_EMULATOR_ADMIN_TOKEN" if ns.quiet else emu.admin_token
            print(f"# admin API: {emu.cloud_url}/_emulator/ (header x-emulator-token: "
                  f"{token}); Ctrl-C stops", file=sys.stderr)
            if emu.webhook_url:
                print(f"# webhooks: POST {emu.webhook_url} signed with SPECTRUM_WEBHOOK_SECRET",
                      file=sys.stderr)
            if ns.ui:
                open_in_browser(emu.ui_url)
            sys.stderr.flush()
            while not stop.wait(0.5):
                pass
            return 0
        finally:
            emu.stop()
            if env_file_text is not None:
                _remove_if_ours(ns.env_file, env_file_text)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def open_in_browser(url: str) -> bool:
    """Open ``url`` in a graphical browser when the machine has one; never fails.

    Without a display (a server, a container, CI) nothing is opened: Python's ``webbrowser``
    would otherwise fall back to a text browser that takes over this terminal.
    """
    if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        return webbrowser.open(url, new=2)
    except Exception:  # any failure of a browser launcher must not stop the emulator
        log.debug("could not open a browser on %s", url, exc_info=True)
        return False


def _remove_if_ours(path: str, text: str) -> None:
    """Remove the env file at exit, unless someone replaced it meanwhile."""
    with contextlib.suppress(OSError):
        if Path(path).read_text(encoding="utf-8") == text:
            os.unlink(path)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc) or type(exc).__name__


# ----- --background ---------------------------------------------------------------------------


def _child_argv(parser: argparse.ArgumentParser, ns: argparse.Namespace, env_file: str,
                ) -> list[str]:
    """The options of this invocation, for the detached process (without --background and
    --log-file, with its own --env-file and --quiet: its stdout is the log, which must not
    hold a second copy of the exports)."""
    argv: list[str] = []
    skip = {"background", "log_file", "env_file", "quiet", "help"}
    for action in parser._actions:
        if not action.option_strings or action.dest in skip:
            continue
        value = getattr(ns, action.dest)
        flag = action.option_strings[-1]
        if action.nargs == 0:  # a flag
            if value:
                argv.append(flag)
        elif value is not None and value != action.default:
            argv += [flag, str(value)]
    return [*argv, "--env-file", env_file, "--quiet"]


def _start_background(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> int:
    work = tempfile.mkdtemp(prefix="spectrum-emulator-")  # temporary env file, default log
    try:
        env_file = str(Path(ns.env_file).absolute()) if ns.env_file else str(Path(work, "env"))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(env_file)  # its appearance is the signal that the emulator serves
        log_path = str(Path(ns.log_file).absolute()) if ns.log_file else str(Path(work, "log"))
        try:
            log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        except OSError as exc:
            raise CliError(f"cannot write --log-file {ns.log_file}: {_reason(exc)}") from None
        try:
            command = [sys.executable, "-m", "spectrum_sync.emulator.cli",
                       *_child_argv(parser, ns, env_file)]
            # A new session and no inherited stdout: `eval "$(...)"` waits for EOF on the
            # pipe of its command, so the emulator must not hold it open, nor get the
            # terminal's Ctrl-C.
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True)
        finally:
            log.close()
        exports = _wait_for_env_file(proc, env_file, log_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.write(exports)
    sys.stdout.flush()
    return 0


def _wait_for_env_file(proc: subprocess.Popen[bytes], env_file: str, log_path: str) -> str:
    deadline = time.monotonic() + BACKGROUND_START_TIMEOUT
    while True:
        try:
            text = Path(env_file).read_text(encoding="utf-8")
        except FileNotFoundError:
            text = None
        if text and f"export {PID_VARIABLE}={proc.pid}\n" in text:
            return text
        status = proc.poll()
        if status is not None:
            raise CliError(f"the emulator exited with status {status}: "
                           f"{_last_line(log_path) or 'no output'}")
        if time.monotonic() > deadline:
            _terminate(proc)
            raise CliError(f"the emulator did not serve within {BACKGROUND_START_TIMEOUT:g} s: "
                           f"{_last_line(log_path) or 'no output'}")
        time.sleep(0.05)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _last_line(path: str) -> str:
    with contextlib.suppress(OSError):
        lines = [ln.strip() for ln in Path(path).read_text("utf-8", "replace").splitlines()]
        lines = [ln for ln in lines if ln]
        if lines:
            line = lines[-1]
            prefix = f"{PROG}: "
            return line[len(prefix):] if line.startswith(prefix) else line
    return ""


if __name__ == "__main__":
    sys.exit(main())
