"""Spectrum's native webhooks: verify the signature, parse the body, dispatch to handlers.

Spectrum Cloud can POST each inbound event to a URL instead of a stream. A delivery carries
``X-Spectrum-Timestamp: <unix seconds>`` and ``X-Spectrum-Signature: v0=<hex>``, the lowercase
hex ``HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)`` over the exact body bytes; the body
is JSON: ``{"event": "messages", "space": {...}, "message": {"id", "platform", "direction",
"timestamp", "sender", "space", "content": {"type", ...}}}``. A ``whsec_`` secret selects
Standard Webhooks instead (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64
HMAC-SHA256 over "<id>.<timestamp>.<body>">``, several signatures per header), the scheme
Spectrum's SDK is moving to.

- :func:`verify` checks a request (raises :class:`WebhookError` with the HTTP status to answer);
- :func:`parse` turns a body into the event types ``client.events()`` yields
  (:class:`~spectrum_sync.Message`, :class:`~spectrum_sync.Reaction`, ...), and
  :func:`parse_envelope` also keeps the whole JSON (:class:`WebhookEnvelope`);
- :class:`WebhookDispatcher` is the framework-free request handler behind the Flask and
  Django views: verify, parse, deduplicate by message id, call the handlers, answer.

Delivery is at-least-once and unordered, with up to six attempts: handlers must tolerate a
repeat, which the dispatcher's deduplication makes rare but cannot rule out (a process that
dies while its handlers run, or a state store that fails, lets a later copy run them again).

The package, by role: ``_signatures`` (both schemes), ``_types`` (the envelope and
:class:`CustomContent`), ``_convert`` (JSON -> public types), ``_parse`` (a body -> an
envelope), ``_dedupe``, ``_dispatcher``; the spaces' backend is ``_backend/webhook.py``.
"""

from __future__ import annotations

# The ``x as x`` imports: importable from here as before, though not in __all__.
from ._convert import parse_timestamp as parse_timestamp
from ._dedupe import CLAIM_GROUP, CLAIM_TTL, SEEN_GROUP, SEEN_TTL, Deduplicator
from ._dispatcher import MAX_BODY_BYTES, WebhookDispatcher, WebhookResponse
from ._errors import WebhookError
from ._parse import parse, parse_envelope
from ._parse import thaw as thaw
from ._signatures import (
    SIGNATURE_HEADER,
    STANDARD_SECRET_PREFIX,
    TIMESTAMP_HEADER,
    TOLERANCE_SECONDS,
    sign,
    sign_standard,
    signature_headers,
    verify,
)
from ._signatures import STANDARD_ID_HEADER as STANDARD_ID_HEADER
from ._signatures import STANDARD_SIGNATURE_HEADER as STANDARD_SIGNATURE_HEADER
from ._signatures import STANDARD_TIMESTAMP_HEADER as STANDARD_TIMESTAMP_HEADER
from ._types import CUSTOM_KIND, CustomContent, WebhookEnvelope, WebhookEvent

__all__ = [
    "CLAIM_GROUP",
    "CLAIM_TTL",
    "CUSTOM_KIND",
    "MAX_BODY_BYTES",
    "SEEN_GROUP",
    "SEEN_TTL",
    "SIGNATURE_HEADER",
    "STANDARD_SECRET_PREFIX",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "CustomContent",
    "Deduplicator",
    "WebhookDispatcher",
    "WebhookEnvelope",
    "WebhookError",
    "WebhookEvent",
    "WebhookResponse",
    "parse",
    "parse_envelope",
    "sign",
    "sign_standard",
    "signature_headers",
    "verify",
]

# Every public class reports the package as its home (as spectrum_sync's own do), whichever
# private module defines it.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        _value.__module__ = __name__
del _name, _value
