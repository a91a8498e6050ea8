"""Webhook bodies and signatures made independently of the code under test."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

SECRET = "test-secret-123"
SPACE = {"id": "any;-;+15551111111", "platform": "iMessage", "type": "dm",
         "phone": "+15550000001"}
SENDER = {"id": "+15551111111", "platform": "iMessage", "address": "+15551111111",
          "service": "iMessage", "country": "US"}
WHEN = "2026-03-01T12:00:00.250Z"

# Computed with: printf '%s' 'v0:1700000000:<BODY>' | openssl dgst -sha256 -hmac 'test-secret-123'
VECTOR_BODY = (b'{"event":"messages","message":{"id":"m1","space":{"id":"any;-;+15551111111"},'
               b'"content":{"type":"text","text":"hi"}}}')
VECTOR_TIME = 1700000000
VECTOR_SIGNATURE = "v0=af8d4ecafe5d6099afb022871ed73651fbcc050f625f6e11e13564b96cc3df86"
VECTOR_HEADERS = {"X-Spectrum-Timestamp": str(VECTOR_TIME),
                  "X-Spectrum-Signature": VECTOR_SIGNATURE}


def hand_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 over ``v0:<timestamp>:<body>``, with the standard library."""
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def signed_headers(body: bytes, *, secret: str = SECRET, timestamp: int | None = None,
                   ) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"Content-Type": "application/json", "X-Spectrum-Timestamp": stamp,
            "X-Spectrum-Signature": hand_signature(secret, stamp, body)}


def envelope(content: dict[str, Any], *, message_id: str = "M1",
             space: dict[str, Any] | None = None, sender: dict[str, Any] | None = SENDER,
             direction: str = "inbound", **extra: Any) -> dict[str, Any]:
    """A native webhook body around ``content``."""
    chosen = dict(SPACE if space is None else space)
    message: dict[str, Any] = {"id": message_id, "platform": "iMessage", "direction": direction,
                               "timestamp": WHEN, "space": chosen, "content": content}
    if sender is not None:
        message["sender"] = sender
    return {"event": "messages", "space": dict(chosen), "message": message, **extra}


def body_of(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
