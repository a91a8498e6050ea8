"""``spectrum-sync emulator``: run the emulator standalone until interrupted.

It prints ``export NAME=value`` lines (the environment a client needs) and then serves; other
processes drive it through the admin HTTP API under ``/_emulator/``.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any, TextIO


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spectrum-sync emulator",
        description="Run an emulator of Spectrum Cloud (REST + gRPC) on this machine.",
    )
    parser.add_argument("--plan", choices=["shared", "dedicated"], default="dedicated")
    parser.add_argument(
        "--lines", default="+15550000001",
        help="comma-separated E.164 numbers of the dedicated lines (default: %(default)s)",
    )
    parser.add_argument("--project-id", default="proj")
    parser.add_argument("--project-secret", default="secret")
    parser.add_argument("--token-ttl", type=float, default=3600.0, metavar="SEC")
    parser.add_argument("--heartbeat", type=float, default=30.0, metavar="SEC",
                        help="heartbeat interval of event streams")
    parser.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate")
    parser.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    parser.add_argument("--daily-message-limit", type=int, default=5000, metavar="N",
                        help="messages per line per UTC day (default: %(default)s)")
    parser.add_argument("--daily-new-conversation-limit", type=int, default=50, metavar="N",
                        help="new conversations per line per UTC day (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--grpc-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--http-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--demo", action="store_true",
                        help="run a short scripted conversation against the emulator, then exit")
    return parser


def emulator_kwargs(ns: argparse.Namespace) -> dict[str, Any]:
    """Translate parsed options into ``Emulator(...)`` keyword arguments."""
    if bool(ns.tls_cert) != bool(ns.tls_key):
        raise SystemExit("spectrum-sync emulator: --tls-cert and --tls-key go together")
    lines = [n.strip() for n in ns.lines.split(",") if n.strip()]
    if ns.plan == "dedicated" and not lines:
        raise SystemExit("spectrum-sync emulator: a dedicated plan needs --lines NUMBER[,...]")
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
    }


def print_exports(env: dict[str, str], out: TextIO) -> None:
    for name, value in env.items():
        out.write(f"export {name}={shlex.quote(value)}\n")
    out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator; returns the process exit code."""
    ns = build_parser().parse_args(argv)
    kwargs = emulator_kwargs(ns)
    from spectrum_sync.emulator import Emulator

    try:
        emu = Emulator(**kwargs)
    except (ValueError, OSError) as exc:
        print(f"spectrum-sync emulator: {exc}", file=sys.stderr)
        return 2
    with emu:
        if ns.demo:
            from spectrum_sync._demo import run_demo

            return run_demo(emu, sys.stdout)
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        # Handlers first: whoever reads the exports may signal us right away.
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            print_exports(emu.env(), sys.stdout)
            print(f"# admin API: {emu.cloud_url}/_emulator/ ; Ctrl-C stops", file=sys.stderr)
            while not stop.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return 0
