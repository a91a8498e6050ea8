"""The Flask extension in process: app factories, configuration (app config, then the
environment), the lazy per-process client, and the webhook view's answers."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from integ_helpers import APPS, LINES, base_env, read_records, require_package, wait_until
from support.servers import Server

import spectrum_sync as spectrum
from spectrum_sync.emulator import Emulator

require_package("flask", "flask")

import flask  # noqa: E402

from spectrum_sync import webhooks  # noqa: E402
from spectrum_sync.flask import Spectrum, webhook  # noqa: E402

SECRET = "flask-secret"


def emulator_config(emu: Emulator) -> dict[str, Any]:
    env = emu.env()
    return {"SPECTRUM_PROJECT_ID": env["SPECTRUM_PROJECT_ID"],
            "SPECTRUM_PROJECT_SECRET": env["SPECTRUM_PROJECT_SECRET"],
            "SPECTRUM_CLOUD_URL": env["SPECTRUM_CLOUD_URL"],
            "SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE": env["SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"],
            "SPECTRUM_IMESSAGE_TLS": "false"}


@pytest.fixture
def no_spectrum_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SPECTRUM_"):
            monkeypatch.delenv(name)


def make_app(ext: Spectrum, **config: Any) -> flask.Flask:
    app = flask.Flask(__name__)
    app.config.update(config)
    ext.init_app(app)
    return app


def test_factory_pattern_without_credentials_then_with(
        no_spectrum_env: None, emu: Emulator) -> None:
    ext = Spectrum()
    app = make_app(ext)  # no credentials anywhere: the app is still made
    with app.app_context(), pytest.raises(spectrum.ConfigurationError, match="credentials"):
        ext.client  # noqa: B018
    app2 = make_app(ext, **emulator_config(emu), SPECTRUM_TIMEOUT="5")
    with app2.app_context():
        client = ext.client
        assert client is ext.client  # one per process and app
        assert client.timeout == 5.0
        assert sorted(client.phones) == LINES
        sent = client.space.create("+15551111111", phone=LINES[0]).send("from flask")
        ext.close()
        assert ext.client is not client  # a later use makes a new one
        ext.close()
    assert [m["text"] for m in emu.messages(line=LINES[0])] == ["from flask"]
    assert sent.space.phone == LINES[0]


def test_environment_fills_what_the_config_leaves_out(
        monkeypatch: pytest.MonkeyPatch, emu: Emulator) -> None:
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SPECTRUM_TIMEOUT", "7")
    ext = Spectrum()
    app = make_app(ext, SPECTRUM_PROJECT_SECRET="wrong-secret")  # config wins over the env
    with app.app_context():
        with pytest.raises(spectrum.AuthenticationError):
            ext.client.phones  # noqa: B018
        assert ext.client.timeout == 7.0
        ext.close()
    ok = Spectrum(make_app_plain := flask.Flask("other"))
    with make_app_plain.app_context():
        assert sorted(ok.client.phones) == LINES
        ok.close()


def test_the_client_outside_a_context_uses_the_single_app(emu: Emulator) -> None:
    ext = Spectrum(flask.Flask("solo"))
    ext._app.config.update(emulator_config(emu))  # type: ignore[union-attr]
    assert sorted(ext.client.phones) == LINES
    ext.close()
    with pytest.raises(RuntimeError, match="no app"):
        Spectrum().client  # noqa: B018


def test_init_app_twice_is_refused() -> None:
    ext = Spectrum()
    app = make_app(ext)
    with pytest.raises(RuntimeError, match="already attached"):
        ext.init_app(app)


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    import time

    stamp = str(int(time.time()))
    return {"X-Spectrum-Timestamp": stamp,
            "X-Spectrum-Signature": webhooks.sign(secret, stamp, body),
            "Content-Type": "application/json"}


BODY = (b'{"event":"messages","message":{"id":"W1","platform":"iMessage",'
        b'"space":{"id":"any;-;+15551111111","phone":"+15550000001"},'
        b'"sender":{"id":"+15551111111"},"content":{"type":"text","text":"hook"}}}')


def test_the_webhook_view_answers_as_the_official_handler(no_spectrum_env: None) -> None:
    ext = Spectrum(webhook_path="/hook")
    seen: list[Any] = []
    ext.on_webhook("message")(seen.append)
    app = make_app(ext)
    http = app.test_client()
    # No secret configured yet.
    assert http.post("/hook", data=BODY, headers=signed(BODY)).status_code == 500
    app.config["SPECTRUM_WEBHOOK_SECRET"] = SECRET
    assert http.post("/hook", data=BODY, headers={}).status_code == 400
    assert http.post("/hook", data=BODY, headers=signed(BODY, "wrong")).status_code == 401
    assert http.post("/hook", data=b"{oops", headers=signed(b"{oops")).status_code == 400
    assert http.get("/hook").status_code == 405
    answer = http.post("/hook", data=BODY, headers=signed(BODY))
    assert (answer.status_code, answer.data) == (200, b"ok")
    assert http.post("/hook", data=BODY, headers=signed(BODY)).status_code == 200
    assert [m.text for m in seen] == ["hook"]  # the repeat was deduplicated
    big = b'{"event":"messages","pad":"' + b"x" * (5 * 1024 * 1024) + b'"}'
    assert http.post("/hook", data=big, headers=signed(big)).status_code == 413


def test_a_failing_handler_answers_500_until_it_succeeds(no_spectrum_env: None) -> None:
    ext = Spectrum()
    calls: list[str] = []

    @ext.on_webhook
    def flaky(event: Any) -> None:
        calls.append(event.guid)
        if len(calls) < 3:
            raise RuntimeError("not yet")

    app = make_app(ext, SPECTRUM_WEBHOOK_SECRET=SECRET)
    app.add_url_rule("/custom", view_func=webhook, methods=["POST"])
    http = app.test_client()
    statuses = [http.post("/custom", data=BODY, headers=signed(BODY)).status_code
                for _ in range(4)]
    assert statuses == [500, 500, 200, 200]
    assert calls == ["W1"] * 3


def test_webhook_events_act_through_the_app_client(emu: Emulator) -> None:
    ext = Spectrum(webhook_path="/hook")

    @ext.on_webhook("message")
    def answer(msg: spectrum.Message) -> None:
        msg.reply("thanks", idempotency_key=f"thanks-{msg.guid}")

    app = make_app(ext, **emulator_config(emu), SPECTRUM_WEBHOOK_SECRET=SECRET)
    http = app.test_client()
    guid = emu.simulate_inbound("+15551111111", "hook", line=LINES[0])
    body = BODY.replace(b'"W1"', b'"' + guid.encode() + b'"')
    assert http.post("/hook", data=body, headers=signed(body)).status_code == 200
    with app.app_context():
        assert ext.client.state.has_member(webhooks.SEEN_GROUP, guid)
        ext.close()
    [reply] = [m for m in emu.messages() if m["is_from_me"]]
    assert (reply["text"], reply["line"]) == ("thanks", "+15550000001")


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_flask_spectrum_listen_receives_and_stops_cleanly(
        stop_with: int, make_emu: Callable[..., Emulator], serve: Callable[..., Server],
        tmp_path: Path) -> None:
    emu = make_emu(heartbeat_interval=0.5)
    record = tmp_path / "listen.jsonl"
    listener = serve([sys.executable, "-m", "flask", "--app", "flask_app", "spectrum",
                      "listen", "--workers", "2"],
                     env=base_env(emu, RECORD_FILE=str(record)))
    assert wait_until(lambda: "Listening on" in listener.log(), 30), listener.log()
    assert emu.wait_for_streams(3 * len(LINES), timeout=20), listener.log()
    guid = emu.simulate_inbound("+15551111111", "hello flask", line=LINES[0])
    assert wait_until(lambda: any(m["is_from_me"] for m in emu.messages()), 20), \
        listener.log()
    listener.send_signal(stop_with)
    listener.proc.wait(15)
    assert listener.proc.returncode == 0, listener.log()
    assert "Traceback" not in listener.log() and "Stopped" in listener.log()
    assert read_records(record) == [{"listen": guid, "text": "hello flask",
                                     "app": "flask_app"}]
    [reply] = [m for m in emu.messages() if m["is_from_me"]]
    assert (reply["text"], reply["line"]) == ("hello from flask", LINES[0])


def test_flask_spectrum_listen_without_credentials_is_one_line() -> None:
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "flask_app", "spectrum",
                           "listen"], env=base_env(), cwd=APPS, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "Error: missing Spectrum credentials" in proc.stderr, proc.stderr


def test_handlers_need_known_kinds() -> None:
    ext = Spectrum()
    with pytest.raises(ValueError, match="unknown event kind"):
        ext.on_event("messages")
    with pytest.raises(ValueError, match="unknown event kind"):
        ext.on_webhook("edits")
    with pytest.raises(spectrum.ConfigurationError, match="no handlers"):
        ext.listen(flask.Flask("x"))


def test_the_webhook_secret_argument_wins(no_spectrum_env: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECTRUM_WEBHOOK_SECRET", "from-env")
    ext = Spectrum(webhook_path="/hook", webhook_secret=SECRET)
    app = make_app(ext, SPECTRUM_WEBHOOK_SECRET="from-config")
    http = app.test_client()
    assert http.post("/hook", data=BODY, headers=signed(BODY)).status_code == 200
    assert http.post("/hook", data=BODY, headers=signed(BODY, "from-config")).status_code == 401
    plain = make_app(Spectrum(webhook_path="/hook"))
    assert plain.test_client().post("/hook", data=BODY,
                                    headers=signed(BODY, "from-env")).status_code == 200


# ----- the health view ----------------------------------------------------------------------


def test_the_health_view_is_off_by_default(emu: Emulator) -> None:
    app = make_app(Spectrum(), **emulator_config(emu))
    assert app.test_client().get("/spectrum/health").status_code == 404


def test_the_health_view_reports_the_checks_without_calling_spectrum(emu: Emulator) -> None:
    ext = Spectrum(health_path="/spectrum/health")
    app = make_app(ext, **emulator_config(emu))
    http = app.test_client()
    before = len(emu.requests)
    answer = http.get("/spectrum/health")
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["ok"] is True
    names = [check["name"] for check in body["checks"]]
    assert names[0] == "credentials" and "store" in names
    assert not any(name.startswith("line ") for name in names)  # no call on a line
    assert len(emu.requests) == before  # nothing sent over gRPC
    assert answer.headers["Cache-Control"] == "no-store"
    assert http.post("/spectrum/health").status_code == 405
    with app.app_context():
        ext.close()


def test_the_health_view_is_503_without_credentials(no_spectrum_env: None) -> None:
    app = make_app(Spectrum(), SPECTRUM_HEALTH_PATH="/healthz")
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 503
    assert answer.json["ok"] is False and "SPECTRUM_PROJECT_ID" in answer.json["error"]


def test_the_health_view_is_503_with_a_read_only_store(emu: Emulator) -> None:
    import socket

    import redis
    from support.redis_server import RedisServer

    with RedisServer() as server:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            nowhere = probe.getsockname()[1]
        redis.Redis.from_url(server.url).execute_command("REPLICAOF", "127.0.0.1",
                                                         str(nowhere))
        ext = Spectrum(health_path="/healthz")
        app = make_app(ext, SPECTRUM_STATE=server.url, **emulator_config(emu))
        answer = app.test_client().get("/healthz")
        with app.app_context():
            ext.close()
    assert answer.status_code == 503
    failed = [check for check in answer.json["checks"] if not check["ok"]]
    assert [check["name"] for check in failed] == ["store"]
    assert failed[0]["fix"]
