"""``spectrum-sync doctor``: is this machine set up to use Spectrum? One line per check."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING

from spectrum_sync._cli.common import Session, UsageError
from spectrum_sync._envnames import CLOUD_URL

if TYPE_CHECKING:
    from spectrum_sync._doctor import CheckResult

HELP = ("CheckResult the set-up: credentials and the token exchange, this machine's clock against "
        "the service's, TLS roots, each line (one cheap read call), today's quota per line, "
        "the state store (reachable and writable) and the stored receive cursors. One line "
        "per check, with the fix when it fails; exit status 1 when any check fails.")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", metavar="URL",
                        help="the state store your application uses, e.g. "
                             "sqlite:///spectrum.db or redis://host:6379/0 (default: memory)")
    parser.add_argument("--json", action="store_true",
                        help="print the checks as a JSON object instead")


def run(args: argparse.Namespace, session: Session) -> int:
    from spectrum_sync._doctor import CheckResult, diagnose, failed_start
    from spectrum_sync._errors import SpectrumError

    session.configure_logging()
    try:
        with session.client(state=args.state) as client:
            checks = diagnose(client, timeout=session.timeout)
    except UsageError as exc:  # missing credentials: a failed check, not a usage error here
        checks = [CheckResult("configuration", False, str(exc).split(" (")[0],
                        "set SPECTRUM_PROJECT_ID and SPECTRUM_PROJECT_SECRET, or add "
                        "--emulator to try a throwaway emulator")]
    except SpectrumError as exc:  # no client: the token exchange or a setting failed
        checks = [failed_start(exc, os.environ.get(CLOUD_URL))]
        checks.extend(_store_alone(args.state))
    failed = [check for check in checks if not check.ok]
    if args.json:
        session.print(json.dumps({"ok": not failed,
                                  "checks": [check.as_dict() for check in checks]}))
        return 1 if failed else 0
    width = max(len(check.name) for check in checks)
    for check in checks:
        session.print(f"{'ok' if check.ok else 'FAIL':<5} {check.name:<{width}}  {check.detail}")
        if check.fix:
            session.print(f"{'':<5} {'':<{width}}  fix: {check.fix}")
    session.print(f"{len(checks) - len(failed)} of {len(checks)} checks passed")
    return 1 if failed else 0


def _store_alone(state: str | None) -> list[CheckResult]:
    """The store's check without a client (one that could not start)."""
    from spectrum_sync._doctor import check_store
    from spectrum_sync._errors import SpectrumError
    from spectrum_sync._state import open_store

    try:
        store, owned = open_store(state)
    except SpectrumError:
        return []  # the configuration check already names it
    try:
        return [check_store(store)]
    finally:
        if owned:
            store.close()
