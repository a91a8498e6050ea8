"""Handlers, discovered at start-up because of their module name."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import spectrum_sync as spectrum
from spectrum_sync.django import on_event, on_message, on_webhook
from spectrum_sync.webhooks import WebhookEnvelope


def record(line: dict[str, Any]) -> None:
    path = os.environ.get("RECORD_FILE")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps(line) + "\n")


@on_message
def greet(msg: spectrum.Message) -> None:
    record({"listen": msg.guid, "text": msg.text, "pid": os.getpid()})
    msg.reply("hello from django", idempotency_key=f"greet-{msg.guid}")


@on_event("reaction")
def reacted(reaction: spectrum.Reaction) -> None:
    record({"listen": reaction.message_guid, "emoji": reaction.emoji})


@on_webhook(with_envelope=True)
def hooked(event: Any, envelope: WebhookEnvelope) -> None:
    text = getattr(event, "text", None)
    if text and "fail-once" in text:
        marker = Path(os.environ["RECORD_FILE"] + "." + envelope.id)
        if not marker.exists():
            marker.write_text("failed once")
            record({"failed": envelope.id, "pid": os.getpid()})
            raise RuntimeError("failing on purpose, the first time")
    record({"id": envelope.id, "kind": event.kind, "text": text, "pid": os.getpid(),
            "content_type": envelope.content_type})
