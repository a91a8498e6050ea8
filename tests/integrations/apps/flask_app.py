"""A Flask app as a user writes it (an app factory), served by gunicorn or uWSGI in the tests.

Environment: the emulator's variables (credentials, addresses, SPECTRUM_WEBHOOK_SECRET);
``RECORD_FILE`` where webhook handlers append one JSON line per event; ``WARM_CLIENT=1`` makes
the client (token, channels) before the server forks its workers, and ``WARM_SEND`` (a phone
number) also sends it a message then (with a state store: its bookkeeping too).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from flask import Flask, jsonify, request

import spectrum_sync as spectrum
from spectrum_sync.flask import Spectrum
from spectrum_sync.webhooks import WebhookEnvelope, WebhookEvent

ext = Spectrum(webhook_path="/spectrum/webhook")


def record(line: dict[str, object]) -> None:
    path = os.environ.get("RECORD_FILE")
    if path:
        # One short O_APPEND write per line: lines from several workers never interleave.
        with open(path, "a") as handle:
            handle.write(json.dumps(line) + "\n")


@ext.on_webhook(with_envelope=True)
def on_event(event: WebhookEvent, envelope: WebhookEnvelope) -> None:
    text = getattr(event, "text", None)
    if text and "fail-once" in text:
        # Fails the first time this message comes (in any worker), then succeeds.
        marker = Path(os.environ["RECORD_FILE"] + "." + envelope.id.replace("/", "_"))
        if not marker.exists():
            marker.write_text("failed once")
            record({"failed": envelope.id, "pid": os.getpid()})
            raise RuntimeError("failing on purpose, the first time")
    record({"id": envelope.id, "kind": event.kind, "text": text, "pid": os.getpid(),
            "content_type": envelope.content_type})


@ext.on_message
def on_streamed(msg: spectrum.Message) -> None:
    from flask import current_app

    record({"listen": msg.guid, "text": msg.text, "app": current_app.name})
    msg.reply("hello from flask", idempotency_key=f"greet-{msg.guid}")


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SPECTRUM_TIMEOUT"] = 10  # under gunicorn's 30 s worker timeout
    ext.init_app(app)

    @app.post("/send")
    def send() -> object:
        data = request.get_json(force=True)
        time.sleep(float(data.get("hold", 0)))  # keeps a worker busy: others take requests
        space = ext.client.space.create(data["to"], phone=data.get("phone"))
        sent = space.send(data["text"], idempotency_key=data.get("key"))
        return jsonify(guid=sent.guid, pid=os.getpid())

    @app.get("/health")
    def health() -> object:
        return jsonify(pid=os.getpid(), made=ext.client is not None)

    @app.errorhandler(spectrum.SpectrumError)
    def failed(exc: spectrum.SpectrumError) -> object:
        return jsonify(error=str(exc)), 502

    return app


app = create_app()

if os.environ.get("WARM_CLIENT") == "1":
    with app.app_context():
        ext.client.phones  # noqa: B018 - token exchange and channels, before the fork
        if os.environ.get("WARM_SEND"):
            ext.client.space.create(os.environ["WARM_SEND"]).send("warm-up")
    # What the serving master runs before it forks (a uWSGI master must run no thread of
    # ours: a worker forked while one holds the GIL would wait for it forever).
    record({"warm_threads": sorted(t.name for t in threading.enumerate()),
            "pid": os.getpid()})
