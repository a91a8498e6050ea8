"""The Django app for real: ``manage.py check``/``migrate`` without credentials, the system
checks, the lazy client proxy in a view through Django's test client, the webhook view, and
``manage.py spectrum_listen`` receiving and stopping cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from integ_helpers import (
    APPS,
    LINES,
    base_env,
    check_handled_once,
    read_records,
    replay,
    require_package,
    simulate_traffic,
    wait_until,
)
from support.servers import Server, free_port

from spectrum_sync import webhooks
from spectrum_sync.emulator import Emulator

PROJECT = APPS / "djproject"
SECRET = "django-webhook-secret"


def manage(*args: str, env: dict[str, str], timeout: float = 60,
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def spectrum_settings(emu: Emulator, **extra: Any) -> dict[str, Any]:
    env = emu.env()
    return {"PROJECT_ID": env["SPECTRUM_PROJECT_ID"],
            "PROJECT_SECRET": env["SPECTRUM_PROJECT_SECRET"],
            "CLOUD_URL": env["SPECTRUM_CLOUD_URL"],
            "IMESSAGE_ADDRESS_TEMPLATE": env["SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"],
            "IMESSAGE_TLS": False, "TIMEOUT": 10, **extra}


# ----- manage.py in a clean environment ------------------------------------------------------


def test_check_and_migrate_work_without_credentials(tmp_path: Path) -> None:
    require_package("django", "django")
    env = base_env(DJANGO_DB=str(tmp_path / "db.sqlite3"))
    checked = manage("check", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "spectrum_sync.W001" in checked.stderr and "credentials" in checked.stderr
    assert "Traceback" not in checked.stderr
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "Applying auth" in migrated.stdout
    # With credentials and a webhook secret in the environment, nothing to warn about.
    full = base_env(DJANGO_DB=str(tmp_path / "db.sqlite3"), SPECTRUM_PROJECT_ID="p",
                    SPECTRUM_PROJECT_SECRET="s", SPECTRUM_WEBHOOK_SECRET="w")
    quiet = manage("check", env=full)
    assert quiet.returncode == 0 and "spectrum_sync" not in quiet.stderr, quiet.stderr


def test_spectrum_listen_without_credentials_is_one_line(tmp_path: Path) -> None:
    require_package("django", "django")
    failed = manage("spectrum_listen", env=base_env())
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert "CommandError: missing Spectrum credentials" in failed.stderr, failed.stderr


# ----- in process: the test client -----------------------------------------------------------


@pytest.fixture(scope="module")
def django_ready() -> Iterator[None]:
    require_package("django", "django")
    import os

    sys.path.insert(0, str(PROJECT))
    previous = os.environ.get("DJANGO_SETTINGS_MODULE")
    os.environ["DJANGO_SETTINGS_MODULE"] = "djsite.settings"
    import django
    from django.test.utils import setup_test_environment, teardown_test_environment

    django.setup()
    setup_test_environment()
    try:
        yield
    finally:
        from spectrum_sync.django import close_client

        close_client()
        teardown_test_environment()
        if previous is None:
            os.environ.pop("DJANGO_SETTINGS_MODULE", None)


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "records.jsonl"
    monkeypatch.setenv("RECORD_FILE", str(path))
    return path


def test_the_proxy_is_lazy_and_sends_from_a_view(
        django_ready: None, make_emu: Callable[..., Emulator]) -> None:
    from django.test import Client as TestClient
    from django.test import override_settings

    import spectrum_sync.django as integration

    emu = make_emu()
    with override_settings(SPECTRUM=spectrum_settings(emu)):
        assert "not made yet" in repr(integration.client)
        http = TestClient(enforce_csrf_checks=True)
        answer = http.post("/send/", data=json.dumps({"to": "+15551111111", "text": "hi dj",
                                                      "phone": LINES[1], "key": "dj-1"}),
                           content_type="application/json")
        assert answer.status_code == 200, answer.content
        assert "not made yet" not in repr(integration.client)
        assert integration.client is not integration.get_client()  # the proxy, not the client
        assert integration.client.phones == integration.get_client().phones
        again = http.post("/send/", data=json.dumps({"to": "+15551111111", "text": "hi dj",
                                                     "phone": LINES[1], "key": "dj-1"}),
                          content_type="application/json")
        assert again.json()["guid"] == answer.json()["guid"]
    [sent] = [m for m in emu.messages() if m["is_from_me"]]
    assert (sent["text"], sent["line"], sent["guid"]) == ("hi dj", LINES[1],
                                                         answer.json()["guid"])
    # New settings, new client (the old one was closed when they changed).
    other = make_emu(lines=["+15559990000"])
    with override_settings(SPECTRUM=spectrum_settings(other)):
        assert integration.client.phones == ["+15559990000"]


def test_the_health_view(django_ready: None, make_emu: Callable[..., Emulator]) -> None:
    from django.test import Client as TestClient
    from django.test import override_settings

    emu = make_emu()
    with override_settings(SPECTRUM=spectrum_settings(emu)):
        answer = TestClient().get("/spectrum/health/")
        assert answer.status_code == 200, answer.content
        assert answer.json()["ok"] is True
        assert {"credentials", "store"} <= {c["name"] for c in answer.json()["checks"]}
        assert answer["Cache-Control"] == "no-store"
        assert TestClient().post("/spectrum/health/").status_code == 405
    with override_settings(SPECTRUM={"PROJECT_ID": "p", "PROJECT_SECRET": "s",
                                     "STATE": "nowhere://"}):
        answer = TestClient().get("/spectrum/health/")
        assert answer.status_code == 503
        assert "state=" in answer.json()["error"]


def test_system_checks_report_bad_settings(django_ready: None) -> None:
    from django.test import override_settings

    from spectrum_sync.django.checks import check_settings

    with override_settings(SPECTRUM="not a dict"):
        assert [m.id for m in check_settings()] == ["spectrum_sync.E001"]
    with override_settings(SPECTRUM={"PROJCT_ID": "typo", "IMESSAGE_TLS": "maybe",
                                     "PROJECT_ID": "p", "PROJECT_SECRET": "s",
                                     "WEBHOOK_SECRET": "w"}):
        ids = sorted(m.id for m in check_settings())
        assert ids == ["spectrum_sync.E002", "spectrum_sync.W003"]


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {"HTTP_X_SPECTRUM_TIMESTAMP": stamp,
            "HTTP_X_SPECTRUM_SIGNATURE": webhooks.sign(secret, stamp, body)}


def body_for(message_id: str, text: str) -> bytes:
    return json.dumps({"event": "messages", "message": {
        "id": message_id, "platform": "iMessage", "direction": "inbound",
        "space": {"id": "any;-;+15551111111", "phone": LINES[0]},
        "sender": {"id": "+15551111111"}, "content": {"type": "text", "text": text}},
        "unknownTopLevel": {"kept": True}}).encode()


def test_the_webhook_view(django_ready: None, record: Path, monkeypatch: pytest.MonkeyPatch,
                          ) -> None:
    from django.test import Client as TestClient
    from django.test import override_settings

    http = TestClient(enforce_csrf_checks=True)  # the view must be CSRF-exempt
    url = "/spectrum/webhook/"
    body = body_for("D1", "hello view")
    monkeypatch.delenv("SPECTRUM_WEBHOOK_SECRET", raising=False)
    with override_settings(SPECTRUM={}):
        post = lambda b, **h: http.post(url, data=b, content_type="application/json", **h)  # noqa: E731
        assert post(body, **signed(body)).status_code == 500  # no secret configured
    with override_settings(SPECTRUM={"WEBHOOK_SECRET": SECRET}):
        assert post(body).status_code == 400
        assert post(body, **signed(body, "wrong")).status_code == 401
        assert post(b"{nope", **signed(b"{nope")).status_code == 400
        assert http.get(url).status_code == 405
        answer = post(body, **signed(body))
        assert (answer.status_code, answer.content) == (200, b"ok")
        assert post(body, **signed(body)).status_code == 200  # a repeat: deduplicated
        flaky = body_for("D2", "fail-once")
        assert post(flaky, **signed(flaky)).status_code == 500
        assert post(flaky, **signed(flaky)).status_code == 200
    monkeypatch.setenv("SPECTRUM_WEBHOOK_SECRET", SECRET)  # the environment works too
    with override_settings(SPECTRUM={}):
        third = body_for("D3", "from env")
        assert post(third, **signed(third)).status_code == 200
    records = read_records(record)
    assert [r.get("id") or r.get("failed") for r in records] == ["D1", "D2", "D2", "D3"]
    assert records[0]["text"] == "hello view"


# ----- real processes ------------------------------------------------------------------------


def start_listener(serve: Callable[..., Server], emu: Emulator, record: Path) -> Server:
    env = base_env(emu, RECORD_FILE=str(record))
    listener = serve([sys.executable, "manage.py", "spectrum_listen"], env=env, cwd=PROJECT)
    assert wait_until(lambda: "Listening on" in listener.log(), 30), listener.log()
    assert emu.wait_for_streams(3 * len(LINES), timeout=20), listener.log()
    return listener


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_spectrum_listen_receives_and_stops_cleanly(
        stop_with: int, make_emu: Callable[..., Emulator], serve: Callable[..., Server],
        tmp_path: Path) -> None:
    require_package("django", "django")
    emu = make_emu(heartbeat_interval=0.5)
    record = tmp_path / "listen.jsonl"
    listener = start_listener(serve, emu, record)
    guid = emu.simulate_inbound("+15551111111", "hello listener", line=LINES[1])
    emu.simulate_reaction("+15551111111", guid, "❤️", line=LINES[1])
    assert wait_until(lambda: len(read_records(record)) >= 2, 20), listener.log()
    assert wait_until(lambda: any(m["is_from_me"] for m in emu.messages()), 10)
    started = time.monotonic()
    listener.send_signal(stop_with)
    listener.proc.wait(15)
    assert time.monotonic() - started < 10
    assert listener.proc.returncode == 0, listener.log()
    output = listener.log()
    assert "Traceback" not in output and "Stopped" in output
    assert read_records(record) == [
        {"listen": guid, "text": "hello listener", "pid": listener.pid},
        {"listen": guid, "emoji": "❤️"}]
    [reply] = [m for m in emu.messages() if m["is_from_me"]]
    assert (reply["text"], reply["line"]) == ("hello from django", LINES[1])


def test_the_emulator_delivers_to_the_django_view_under_gunicorn(
        make_emu: Callable[..., Emulator], serve: Callable[..., Server], tmp_path: Path,
        ) -> None:
    require_package("django", "django")
    require_package("gunicorn", "test")
    port = free_port()
    record = tmp_path / "hooks.jsonl"
    emu = make_emu(webhook_url=f"http://127.0.0.1:{port}/spectrum/webhook/",
                   webhook_secret=SECRET, webhook_retry_base=0.2)
    env = base_env(emu, RECORD_FILE=str(record),
                   SPECTRUM_STATE=f"sqlite:///{tmp_path / 'state.db'}")
    serve([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
           "djsite.wsgi"], env=env, port=port, cwd=PROJECT)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/spectrum/health/",
                                timeout=10) as health:
        assert health.status == 200 and json.loads(health.read())["ok"] is True
    flaky = simulate_traffic(emu)
    check_handled_once(emu, record, flaky)
    before = len(read_records(record))
    assert replay(port, "/spectrum/webhook/", flaky, 4, SECRET) == [200] * 4
    assert len(read_records(record)) == before
