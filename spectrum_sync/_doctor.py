"""Checks of a client's set-up, one result each: what ``spectrum-sync doctor`` prints and what
the web apps' health views report.

Each check says what it found and, when it fails, the fix. ``network=False`` keeps to what
the client already knows (no token exchange, no call on a line), for probes that run often.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from ._envnames import TLS_CA_FILE
from ._errors import AuthenticationError, ConnectionError, SpectrumError

if TYPE_CHECKING:
    from ._client import Client
    from ._feature_values import LineInfo
    from ._state.base import StateStore

__all__ = ["CLOCK_SKEW_LIMIT", "CheckResult", "check_store", "diagnose", "failed_start"]

#: Seconds of clock difference with the service beyond which the clock check fails: webhook
#: signatures are refused past 300 s, and a log's times stop matching the service's well before.
CLOCK_SKEW_LIMIT = 30.0
_FAMILIES = ("messages", "groups", "polls", "chats")


@attrs.frozen
class CheckResult:
    """The result of one check: ``name`` (``credentials``, ``line +1555…``, ``store``…),
    whether it passed, what was found, and the fix when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def diagnose(client: Client, *, timeout: float = 10.0, network: bool = True) -> list[CheckResult]:
    """Check credentials, clock, TLS, each line, quotas, the state store and the cursors.

    With ``network=False`` nothing is sent to Spectrum: the credentials check reads the
    current token's state and the per-line calls are skipped. Never raises for what it
    checks: each failure is a failed :class:`CheckResult`."""
    checks = [_credentials(client, timeout, network)]
    if checks[0].ok and client.mode != "local":
        checks.append(_clock(client))
        checks.append(_tls(client))
        lines = client.lines
        if network:
            checks.extend(_line(client, info, timeout) for info in lines)
        checks.extend(_quota(client, info, timeout) for info in lines)
        checks.append(_cursors(client, lines))
    checks.append(check_store(client.state))
    return checks


def failed_start(error: SpectrumError, cloud_url: str | None) -> CheckResult:
    """The check that failed when a client could not even be made: the token exchange
    (credentials, reachability) or a setting (URL, state store, CA file)."""
    if isinstance(error, (AuthenticationError, ConnectionError)):
        return CheckResult("credentials", False, f"token exchange failed: {error}",
                     _failure_fix(error, cloud_url))
    return CheckResult("configuration", False, str(error),
                 "fix the setting named above (environment variable or option)")


def _failure_fix(error: SpectrumError, cloud_url: str | None) -> str:
    if isinstance(error, AuthenticationError):
        return ("check SPECTRUM_PROJECT_ID and SPECTRUM_PROJECT_SECRET (the project's "
                "credentials in the Spectrum console)")
    if isinstance(error, ConnectionError):
        return (f"check that {cloud_url or 'the service'} is reachable from here "
                "(SPECTRUM_CLOUD_URL, proxy, firewall)")
    return "see the error above; retry later if it says the service is unavailable"


def _credentials(client: Client, timeout: float, network: bool) -> CheckResult:
    mode = client.mode
    if mode == "local":
        return CheckResult("credentials", True, "local mode: this Mac's own Messages account")
    if mode == "explicit":
        return CheckResult("credentials", True,
                     "explicit lines with static tokens (each line's check tries its token)")
    auth = client._auth
    if auth is None:  # pragma: no cover - cloud mode always has a refresher
        return CheckResult("credentials", True, "no token exchange in this mode")
    if network:
        try:
            client.refresh_credentials()
        except SpectrumError as exc:
            return CheckResult("credentials", False, f"token exchange failed: {exc}",
                         _failure_fix(exc, client.cloud_url))
    elif auth.last_error is not None and (auth.grant is None or auth.seconds_left() <= 0):
        return CheckResult("credentials", False, f"no valid token: {auth.last_error}",
                     _failure_fix(auth.last_error, client.cloud_url))
    grant = auth.grant
    if grant is None:
        return CheckResult("credentials", True, "no token yet (the first call exchanges one)")
    left = auth.seconds_left()
    count = len(grant.tokens)
    return CheckResult("credentials", True,
                 f"token exchange with {client.cloud_url}: {grant.kind} plan, {count} "
                 f"line{'s' if count != 1 else ''}, token valid for {max(left, 0):.0f} s")


def _clock(client: Client) -> CheckResult:
    auth = client._auth
    skew = auth.grant.clock_skew if auth is not None and auth.grant is not None else None
    if skew is None:
        return CheckResult("clock", True, "the service's time is unknown (no Date header yet)")
    if abs(skew) < 1.5:  # the Date header counts whole seconds
        return CheckResult("clock", True, "this machine's clock agrees with the service's "
                                    "(within a second or so)")
    text = f"{abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} the service's"
    if math.isfinite(skew) and abs(skew) <= CLOCK_SKEW_LIMIT:
        return CheckResult("clock", True, f"this machine's clock is {text}")
    return CheckResult("clock", False, f"this machine's clock is {text}",
                 "synchronise the clock (NTP, e.g. systemd-timesyncd or chrony): webhook "
                 "signatures older than 300 s are refused")


def _tls(client: Client) -> CheckResult:
    lines = client.lines
    secure = [info for info in lines if info.tls]
    cloud_https = (client.cloud_url or "").startswith("https://")
    if not secure and not cloud_https:
        return CheckResult("tls", True, "plaintext (an emulator or a local relay): no certificates "
                                  "involved")
    import ssl

    context = client._ssl_context or ssl.create_default_context()
    roots = context.cert_store_stats().get("x509_ca", 0)
    source = TLS_CA_FILE if client._ssl_context is not None else "the system"
    if roots == 0:
        return CheckResult("tls", False, f"no trusted root certificates from {source}",
                     f"install the ca-certificates package, or set {TLS_CA_FILE} to a "
                     "PEM bundle")
    return CheckResult("tls", True, f"{roots} trusted root certificates from {source}; "
                              f"{len(secure)} of {len(lines)} lines use TLS")


def _line(client: Client, info: LineInfo, timeout: float) -> CheckResult:
    name = f"line {info.phone}"
    started = time.monotonic()
    try:
        next(iter(client.recent(1, phone=info.phone, timeout=timeout)), None)
    except SpectrumError as exc:
        fix = (_failure_fix(exc, client.cloud_url) if not isinstance(exc, ConnectionError) else
               f"check that {info.address} is reachable from here (firewall, proxy, "
               "SPECTRUM_IMESSAGE_ADDRESS)")
        return CheckResult(name, False, f"{info.address} did not answer a read call: {exc}", fix)
    took = (time.monotonic() - started) * 1000
    return CheckResult(name, True, f"{info.address} answered a read call in {took:.0f} ms")


def _quota(client: Client, info: LineInfo, timeout: float) -> CheckResult:
    name = f"quota {info.phone}"
    try:
        usage = client.quota(info.phone, timeout=timeout)
    except SpectrumError as exc:
        return CheckResult(name, False, f"cannot read the quota counters: {exc}",
                     "check the state store (see its check)")

    def part(used: int, limit: int | None, what: str) -> str:
        return f"{used}/{'unlimited' if limit is None else limit} {what}"

    detail = (f"{part(usage.messages, usage.messages_limit, 'messages')}, "
              f"{part(usage.new_conversations, usage.new_conversations_limit, 'new conversations')}"
              f" on {usage.day} (UTC)")
    spent = [what for left, what in ((usage.messages_remaining, "messages"),
                                     (usage.new_conversations_remaining, "new conversations"))
             if left == 0]
    if spent:
        return CheckResult(name, False, f"{detail}: {' and '.join(spent)} spent",
                     f"wait until {usage.resets_at:%Y-%m-%d %H:%M} UTC, send from another "
                     f"line, or raise QuotaLimits if your plan allows more")
    return CheckResult(name, True, detail)


def _cursors(client: Client, lines: list[LineInfo]) -> CheckResult:
    from ._receive.ledger import commit_time_key, cursor_key

    found: list[str] = []
    now = time.time()
    try:
        for info in lines:
            per_family: list[str] = []
            written: list[int] = []
            for family in _FAMILIES:
                key = cursor_key(info.instance_id, family)
                seq = client.state.get_cursor(key)
                if seq is None:
                    continue
                per_family.append(f"{family} {seq}")
                at = client.state.get_cursor(commit_time_key(key))
                if at is not None:
                    written.append(at)
            if per_family:
                age = f", last written {_age(now - max(written))} ago" if written else ""
                found.append(f"{info.phone}: {', '.join(per_family)}{age}")
    except Exception as exc:
        return CheckResult("cursors", False,
                           f"cannot read the receive cursors: {_describe(exc)}",
                           "check the state store (see its check)")
    if not found:
        return CheckResult("cursors", True,
                           "none stored (a receiver starts at the live head; a persistent "
                           "state= makes restarts resume)")
    return CheckResult("cursors", True, "; ".join(found))


def _age(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def check_store(store: StateStore) -> CheckResult:
    """Whether ``store`` is reachable and writable: a short-lived probe written and read."""
    kind = type(store).__name__
    probe = f"probe-{uuid.uuid4().hex}"
    steps: list[tuple[str, Callable[[], object]]] = [
        ("write", lambda: store.add_member("doctor", probe, ttl=60.0)),
        ("read", lambda: store.has_member("doctor", probe)),
    ]
    for step, call in steps:
        try:
            result = call()
        except Exception as exc:
            return CheckResult("store", False, f"{kind}: the {step} failed: {_describe(exc)}",
                         "check the state= URL, that the store is up and writable by this "
                         "process (Redis: not a read-only replica; SQLite: the file and its "
                         "folder writable)")
        if step == "read" and result is not True:
            return CheckResult("store", False, f"{kind}: a value written was not read back",
                         "check that every process uses the same store and database number")
    return CheckResult("store", True, f"{kind}: reachable and writable")


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
