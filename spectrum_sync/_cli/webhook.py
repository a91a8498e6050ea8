"""``spectrum-sync webhook verify``: check a saved webhook delivery.

The file is a saved request (request line and headers, a blank line, then the body, as a
capture or ``curl -D`` saves it), or the body alone with ``--signature`` and ``--timestamp``.
The body's bytes are checked exactly as saved: a body re-encoded by an editor (another key
order, spacing or line ending) no longer matches, which is the most common reason a real
delivery is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Any

from spectrum_sync._bodies import BodyTooLarge, read_limited
from spectrum_sync._cli.common import CommandError, Session, UsageError, add_common_options
from spectrum_sync._envnames import WEBHOOK_SECRET

HELP = ("Webhook tools. `webhook verify FILE` checks a saved delivery: its signature against "
        "the secret, its age, and prints the events it carries.")
SECRET_ENV = WEBHOOK_SECRET
MAX_FILE_BYTES = 16 * 1024 * 1024

_REQUEST_LINE = re.compile(rb"^[A-Z]+ \S+ HTTP/\d(\.\d)?\r?$")
_HEADER_LINE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+:")


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="webhook_command", metavar="ACTION", title="actions")
    actions.required = True
    verify = actions.add_parser(
        "verify", help="check a saved delivery's signature and show its events",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False)
    verify.add_argument("file", metavar="FILE",
                        help="the saved request (headers, blank line, body) or body; - reads "
                             "stdin")
    verify.add_argument("--secret", action="append", metavar="SECRET",
                        help=f"the webhook secret (default: ${SECRET_ENV}); repeat it to "
                             "try several during a rotation")
    verify.add_argument("--signature", metavar="v0=HEX",
                        help="the X-Spectrum-Signature value, when FILE is the body alone")
    verify.add_argument("--timestamp", metavar="UNIX",
                        help="the X-Spectrum-Timestamp value, when FILE is the body alone")
    verify.add_argument("--strict", action="store_true",
                        help="also fail when the delivery is older than a live one may be "
                             "(300 s), as a server would")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    add_common_options(verify)


def run(args: argparse.Namespace, session: Session) -> int:
    from spectrum_sync import webhooks

    secrets = args.secret or ([os.environ[SECRET_ENV]] if os.environ.get(SECRET_ENV) else [])
    if not secrets:
        raise UsageError(f"no secret: pass --secret or set {SECRET_ENV}")
    headers, body = split_request(_read(args.file))
    for name, value in ((webhooks.SIGNATURE_HEADER, args.signature),
                        (webhooks.TIMESTAMP_HEADER, args.timestamp)):
        if value is not None:
            headers[name.lower()] = value
    stamp = headers.get(webhooks.TIMESTAMP_HEADER.lower())
    try:
        # The signature first, at the delivery's own time: the age is reported on its own.
        webhooks.verify(body, headers, secrets, now=_as_number(stamp))
    except webhooks.WebhookError as exc:
        if exc.reason == "missing-headers":
            raise UsageError(f"{exc.message}: save the request with its headers, or pass "
                             "--signature and --timestamp") from None
        raise CommandError(f"not genuine ({exc.reason}): {exc.message}") from None
    assert stamp is not None
    age = time.time() - float(stamp)
    fresh = abs(age) <= webhooks.TOLERANCE_SECONDS
    try:
        envelope = webhooks.parse_envelope(body)
    except webhooks.WebhookError as exc:
        raise CommandError(f"genuine signature, but {exc.message}") from None
    if args.json:
        session.print(json.dumps({
            "genuine": True, "age_seconds": round(age, 3), "fresh": fresh,
            "event": envelope.event, "id": envelope.id, "content_type": envelope.content_type,
            "events": [json.loads(_event_json(e)) for e in envelope.events]},
            ensure_ascii=False))
    else:
        session.print(f"genuine: signed with the given secret, {_age(age)}")
        if not fresh:
            session.print(f"note: older than {webhooks.TOLERANCE_SECONDS:g} s: a server "
                          "would refuse it now as expired (a replay)")
        kinds = ", ".join(e.kind for e in envelope.events) or "no event this version maps"
        session.print(f"{envelope.event} {envelope.id} ({envelope.content_type}): {kinds}")
        for event in envelope.events:
            session.print(_event_text(event))
    if args.strict and not fresh:
        return 1
    return 0


def split_request(data: bytes) -> tuple[dict[str, str], bytes]:
    """Headers (lower-case names) and body of a saved request; a file that does not start
    with a request line or a header is the body alone. ``Content-Length`` trims what an
    editor may have added after the body."""
    first = data.split(b"\n", 1)[0]
    if not (_REQUEST_LINE.match(first) or _HEADER_LINE.match(first)):
        return {}, data
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = data.partition(separator)
        if found:
            break
    else:
        raise UsageError("the saved request has headers but no blank line before a body")
    headers: dict[str, str] = {}
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if _REQUEST_LINE.match(line):
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise UsageError(f"not a header line: {line[:60]!r}")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= len(body):
        body = body[:int(length)]
    return headers, body


def _read(path: str) -> bytes:
    """The saved request, read in pieces up to the limit + 1 byte (stdin may be endless)."""
    try:
        if path == "-":
            return read_limited(sys.stdin.buffer.read, MAX_FILE_BYTES)
        with open(path, "rb") as handle:
            return read_limited(handle.read, MAX_FILE_BYTES)
    except BodyTooLarge:
        raise UsageError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB: not "
                         "a webhook delivery") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _as_number(stamp: str | None) -> float | None:
    try:
        return float(stamp) if stamp is not None else None
    except ValueError:
        return None  # verify() names the bad header


def _age(age: float) -> str:
    if age < 0:
        return f"dated {-age:.0f} s in the future (a clock is wrong)"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if age >= size:
            return f"sent {age / size:.1f} {unit} ago"
    return f"sent {age:.0f} s ago"


def _event_text(event: Any) -> str:
    from spectrum_sync._cli.events import as_text

    return "  " + as_text(event)


def _event_json(event: Any) -> str:
    from spectrum_sync._cli.events import as_json

    return as_json(event)
