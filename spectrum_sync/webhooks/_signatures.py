"""Webhook signatures, both schemes: Spectrum's ``v0`` HMAC (``X-Spectrum-*`` headers) and
Standard Webhooks (``webhook-*`` headers), which a ``whsec_`` secret selects."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Union

from .._envnames import WEBHOOK_SECRET
from ._errors import WebhookError

SIGNATURE_HEADER = "x-spectrum-signature"
TIMESTAMP_HEADER = "x-spectrum-timestamp"
#: A delivery signed further than this from now (either way) is refused: a captured request
#: cannot be replayed later.
TOLERANCE_SECONDS = 300

_PREFIX = "v0="
_HEX = re.compile(r"[0-9a-fA-F]+")
# ASCII digits and blanks only: ``\d`` and ``float()`` would also take other scripts' digits.
_NUMBER = re.compile(r"[ \t]*-?[0-9]+(?:\.[0-9]+)?[ \t]*")

Headers = Union[Mapping[str, str], Iterable[tuple[str, str]]]


def body_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError(f"a webhook body is bytes (the raw request body), not {type(body).__name__}")


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The ``X-Spectrum-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds):
    for tests of your own handlers."""
    base = b"v0:" + str(timestamp).encode("ascii") + b":" + body_bytes(body)
    return _PREFIX + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


# Standard Webhooks (standardwebhooks.com), chosen by a ``whsec_`` secret: headers
# webhook-id / webhook-timestamp / webhook-signature; the MAC is base64 HMAC-SHA256 under the
# base64-decoded secret over "<id>.<timestamp>.<body>", sent as "v1,<mac>", several separated
# by spaces (a sender rotating its secret signs with both).
STANDARD_SECRET_PREFIX = "whsec_"
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
_STANDARD_VERSION = "v1,"


def _standard_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret[len(STANDARD_SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise WebhookError(500, "secret-not-configured",
                           "the whsec_ webhook secret is not base64 after its prefix") from None


def _standard_mac(key: bytes, message_id: str, timestamp: str, raw: bytes) -> bytes:
    signed = message_id.encode("utf-8") + b"." + timestamp.encode("ascii") + b"." + raw
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign_standard(secret: str, message_id: str, timestamp: int | str, body: bytes | str) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) of a Standard Webhooks delivery
    signed with a ``whsec_`` secret: for tests of your own handlers."""
    mac = _standard_mac(_standard_key(secret), message_id, str(timestamp), body_bytes(body))
    return _STANDARD_VERSION + base64.b64encode(mac).decode("ascii")


def signature_headers(secret: str, body: bytes | str, *, timestamp: int | str,
                      message_id: str) -> dict[str, str]:
    """The signature headers of a delivery, in the scheme the secret selects: Standard
    Webhooks for a ``whsec_`` secret, else Spectrum's ``X-Spectrum-*`` headers."""
    stamp = str(timestamp)
    if secret.startswith(STANDARD_SECRET_PREFIX):
        return {"webhook-id": message_id, "webhook-timestamp": stamp,
                "webhook-signature": sign_standard(secret, message_id, stamp, body)}
    return {"X-Spectrum-Timestamp": stamp, "X-Spectrum-Signature": sign(secret, stamp, body)}


def _header(headers: Headers, name: str) -> str | None:
    """A header by name in any case, from a plain dict, a framework's header object
    (Werkzeug's and Django's look names up without case) or a list of pairs."""
    get = getattr(headers, "get", None)
    if callable(get):
        value = get(name)
        if value is not None:
            return str(value)
    items = getattr(headers, "items", None)
    pairs: Iterable[tuple[str, str]] = items() if callable(items) else headers  # type: ignore[assignment]
    for key, value in pairs:
        if isinstance(key, str) and key.lower() == name:
            return str(value)
    return None


def _secrets(secret: str | Sequence[str] | None) -> list[str]:
    chosen = [secret] if isinstance(secret, str) else list(secret or ())
    if not chosen or not all(isinstance(s, str) and s for s in chosen):
        raise WebhookError(500, "secret-not-configured",
                           f"no webhook secret configured ({WEBHOOK_SECRET})")
    return chosen


def verify(body: bytes | str, headers: Headers, secret: str | Sequence[str] | None, *,
           now: float | None = None, tolerance: float = TOLERANCE_SECONDS) -> None:
    """Check a delivery's signature; returns None when it is genuine, else raises
    :class:`WebhookError`.

    ``body`` is the raw request body, exactly as received (never a re-encoded JSON: key order
    and spacing are signed). ``headers`` in any case. ``secret`` may be a list during a
    secret rotation (any one matching is enough). The secret chooses the scheme: a
    ``whsec_`` secret verifies Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature``), any other Spectrum's ``X-Spectrum-*`` headers. ``now`` (unix
    seconds) is for tests."""
    raw = body_bytes(body)
    keys = _secrets(secret)
    standard = [k for k in keys if k.startswith(STANDARD_SECRET_PREFIX)]
    spectrum = [k for k in keys if not k.startswith(STANDARD_SECRET_PREFIX)]
    if standard and (not spectrum or _header(headers, STANDARD_SIGNATURE_HEADER) is not None):
        _verify_standard(raw, headers, standard, now, tolerance)
        return
    _verify_spectrum(raw, headers, spectrum, now, tolerance)


def _check_time(stamp: str, name: str, now: float | None, tolerance: float) -> None:
    if not _NUMBER.fullmatch(stamp):
        raise WebhookError(400, "missing-headers", f"{name} is not a unix time: {stamp[:40]!r}")
    sent = float(stamp)
    current = math.floor(time.time() if now is None else now)
    if not math.isfinite(sent) or abs(current - sent) > tolerance:
        raise WebhookError(401, "expired",
                           "the delivery's timestamp is more than "
                           f"{tolerance:g} s away from now (replayed, or a clock is wrong)")


def _mismatch() -> WebhookError:
    return WebhookError(401, "signature-mismatch",
                        "the signature does not match the body (wrong secret, or a body "
                        "changed on the way)")


def _verify_standard(raw: bytes, headers: Headers, keys: list[str], now: float | None,
                     tolerance: float) -> None:
    message_id = _header(headers, STANDARD_ID_HEADER)
    stamp = _header(headers, STANDARD_TIMESTAMP_HEADER)
    provided = _header(headers, STANDARD_SIGNATURE_HEADER)
    if not message_id or not stamp or not provided:
        raise WebhookError(400, "missing-headers",
                           "the webhook-id, webhook-timestamp and webhook-signature headers "
                           "are required (the secret is a whsec_ one: Standard Webhooks)")
    _check_time(stamp, "webhook-timestamp", now, tolerance)
    given: list[bytes] = []
    for item in provided.split():
        if item.startswith(_STANDARD_VERSION):  # other versions are skipped, never fatal
            with contextlib.suppress(binascii.Error, ValueError):
                given.append(base64.b64decode(item[len(_STANDARD_VERSION):], validate=True))
    for key in keys:
        expected = _standard_mac(_standard_key(key), message_id, stamp.strip(), raw)
        if any(hmac.compare_digest(expected, mac) for mac in given):
            return
    raise _mismatch()


def _verify_spectrum(raw: bytes, headers: Headers, keys: list[str], now: float | None,
                     tolerance: float) -> None:
    provided = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    if not provided or not stamp:
        raise WebhookError(400, "missing-headers",
                           "the X-Spectrum-Signature and X-Spectrum-Timestamp headers are "
                           "required")
    _check_time(stamp, "X-Spectrum-Timestamp", now, tolerance)
    digest = provided.strip()
    if digest.startswith(_PREFIX):
        digest = digest[len(_PREFIX):]
    # The official verifier treats an unreadable signature as a wrong one (401), not as a
    # malformed request.
    if len(digest) % 2 or not _HEX.fullmatch(digest):
        raise WebhookError(401, "signature-mismatch", "the signature is not a hex digest")
    given = bytes.fromhex(digest)
    base = b"v0:" + stamp.encode("utf-8") + b":" + raw
    for key in keys:
        expected = hmac.new(key.encode("utf-8"), base, hashlib.sha256).digest()
        if hmac.compare_digest(expected, given):
            return
    raise _mismatch()
