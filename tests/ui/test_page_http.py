"""The page's HTTP side without a browser: who may open it, what its answers carry, and its
event stream (which must not hold up other requests)."""

from __future__ import annotations

import fnmatch
import http.client
import json
import socket
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from spectrum_sync.emulator import Emulator

ALICE = "+15551111111"
TOKEN = "page-admin-token-123"


def outside_address() -> str:
    """This machine's address on its network (not loopback), or a skip."""
    for target in ("10.255.255.255", "192.0.2.255", "198.51.100.1"):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect((target, 9))  # a UDP "connect" sends nothing: it picks a route
            address = str(probe.getsockname()[0])
        except OSError:
            continue
        finally:
            probe.close()
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    pytest.skip("this machine has no network address other than loopback")


def get(host: str, port: int, path: str, headers: dict[str, str] | None = None,
        method: str = "GET", body: Any = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        all_headers = dict(headers or {})
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        return (response.status, {k.lower(): v for k, v in response.getheaders()},
                response.read())
    finally:
        conn.close()


def test_ui_url_is_on_the_http_port(make_emulator: Any) -> None:
    emu = make_emulator()
    assert emu.ui_url == f"{emu.cloud_url}/_emulator/ui/"
    status, headers, body = get("127.0.0.1", emu.http_port, "/_emulator/ui/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"<script src=\"app.js\"" in body
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    for asset in ("app.js", "app.css", "icon.svg"):
        assert get("127.0.0.1", emu.http_port, f"/_emulator/ui/{asset}")[0] == 200


def test_off_loopback_the_page_needs_the_admin_token(make_emulator: Any) -> None:
    address = outside_address()
    emu: Emulator = make_emulator(host="0.0.0.0", admin_token=TOKEN)
    port = emu.http_port
    assert emu.ui_url.endswith("/_emulator/ui/?token=" + TOKEN)
    for path in ("/_emulator/ui/", "/_emulator/ui/app.js", "/_emulator/ui/api/overview",
                 "/_emulator/ui/api/events"):
        status, _, body = get(address, port, path)
        assert status == 403, path
        assert json.loads(body)["code"] == "FORBIDDEN"
    status, _, _ = get(address, port, "/_emulator/ui/api/send", method="POST",
                       body={"line": "+15550000001", "from": ALICE, "text": "hi"})
    assert status == 403
    assert emu.messages() == []
    assert get(address, port, "/_emulator/ui/?token=wrong-token-456")[0] == 403

    # With the token: the page answers and leaves a cookie for its own later requests.
    status, headers, _ = get(address, port, "/_emulator/ui/?token=" + TOKEN)
    assert status == 200
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/_emulator/ui" in cookie
    jar = {"Cookie": cookie.split(";", 1)[0]}
    assert get(address, port, "/_emulator/ui/api/overview", jar)[0] == 200
    status, _, body = get(address, port, "/_emulator/ui/api/send", jar, method="POST",
                          body={"line": "+15550000001", "from": ALICE, "text": "hi"})
    assert status == 200, body
    assert [m["text"] for m in emu.messages()] == ["hi"]
    assert get(address, port, "/_emulator/ui/api/overview",
               {"x-emulator-token": TOKEN})[0] == 200
    # The cookie opens the page's routes only, not the rest of the admin API.
    assert get(address, port, "/_emulator/state", jar)[0] == 403


def test_files_other_than_pictures_are_downloads(make_emulator: Any) -> None:
    emu: Emulator = make_emulator()
    emu.simulate_inbound(ALICE, "", attachment=("page.html", b"<script>alert(1)</script>"))
    emu.simulate_inbound(ALICE, "", attachment=("logo.svg", b"<svg onload='alert(1)'/>"))
    emu.simulate_inbound(ALICE, "", attachment=("photo.png", b"\x89PNG\r\n\x1a\n"))
    query = urllib.parse.urlencode({"line": "+15550000001", "chat": f"any;-;{ALICE}"})
    _, _, body = get("127.0.0.1", emu.http_port, f"/_emulator/ui/api/chat?{query}")
    files = [m["attachments"][0] for m in json.loads(body)["items"]]
    answers = {}
    for file in files:
        query = urllib.parse.urlencode({"line": "+15550000001", "guid": file["guid"]})
        answers[file["name"]] = get("127.0.0.1", emu.http_port,
                                    f"/_emulator/ui/api/attachment?{query}")
    for name in ("page.html", "logo.svg"):
        status, headers, _ = answers[name]
        assert status == 200
        assert headers["content-type"] == "application/octet-stream"
        assert headers["content-disposition"].startswith("attachment;")
        assert "sandbox" in headers["content-security-policy"]
    status, headers, data = answers["photo.png"]
    assert headers["content-type"] == "image/png"
    assert headers["content-disposition"].startswith("inline;")
    assert data == b"\x89PNG\r\n\x1a\n"
    assert [f["image"] for f in files] == [False, False, True]


def test_the_event_stream_holds_up_no_other_request(make_emulator: Any) -> None:
    emu: Emulator = make_emulator()
    stream = http.client.HTTPConnection("127.0.0.1", emu.http_port, timeout=10)
    try:
        stream.request("GET", "/_emulator/ui/api/events")
        response = stream.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/event-stream")

        def next_event() -> str:
            lines = []
            while True:
                line = response.fp.readline().decode()
                if line == "\n" and lines:
                    return "".join(lines)
                if line.strip() and not line.startswith(":"):
                    lines.append(line)

        assert next_event().startswith("retry:")
        assert next_event().startswith("event: change")
        # While the stream is open, other requests are answered (each has its own thread).
        status, _, _ = get("127.0.0.1", emu.http_port, "/_emulator/ui/api/send",
                           method="POST", body={"line": "+15550000001", "from": ALICE,
                                                "text": "hello"})
        assert status == 200
        assert next_event().startswith("event: change")
        emu.simulate_typing(ALICE)
        assert next_event().startswith("event: change")
    finally:
        stream.close()


@pytest.mark.parametrize(("action", "body", "message"), [
    ("send", {"line": "+15550000001", "text": "hi"}, '"from" is required'),
    ("send", {"line": "+15550000001", "from": ALICE, "text": "hi", "effect": "sparkle"},
     "unknown effect"),
    ("react", {"line": "+15550000001", "from": ALICE, "message": "nope", "reaction": "❤️"},
     "nope"),
    ("fault", {"kind": "explode"}, '"kind" must be one of'),
    ("vote", {"line": "+15550000001", "from": ALICE, "poll": "nope", "option": "x"}, "nope"),
])
def test_bad_actions_are_400_with_a_reason(make_emulator: Any, action: str,
                                           body: dict[str, Any], message: str) -> None:
    emu: Emulator = make_emulator()
    status, _, raw = get("127.0.0.1", emu.http_port, f"/_emulator/ui/api/{action}",
                         method="POST", body=body)
    assert status == 400, raw
    answer = json.loads(raw)
    assert answer["code"] == "INVALID_ARGUMENT" and message in answer["message"]


def test_faults_from_the_page_reach_the_emulator(make_emulator: Any) -> None:
    emu: Emulator = make_emulator()
    client = emu.client()
    try:
        client.user(ALICE)  # a token is issued
        for kind in ("fail-next", "revoke-tokens", "cut-streams"):
            status, _, _ = get("127.0.0.1", emu.http_port, "/_emulator/ui/api/fault",
                               method="POST", body={"kind": kind})
            assert status == 200, kind
        assert emu.faults.take("GetAddressInfo", streaming=False) is not None
    finally:
        client.close()


def test_every_file_of_the_page_ships_in_the_package() -> None:
    tomllib = pytest.importorskip("tomllib")
    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["spectrum_sync.emulator"]
    folder = root / "spectrum_sync" / "emulator" / "ui"
    files = sorted(p.relative_to(folder.parent).as_posix() for p in folder.iterdir())
    assert {"ui/index.html", "ui/app.js", "ui/app.css"} <= set(files)
    assert [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)] == []


def test_the_page_names_effects_as_the_library_does() -> None:
    from spectrum_sync._effects import MESSAGE_EFFECTS
    from spectrum_sync.emulator import ui_views

    assert ui_views.EFFECTS == MESSAGE_EFFECTS


def test_the_script_never_turns_data_into_markup() -> None:
    # Texts go through textContent and attribute values only; none of these parse HTML.
    script = (Path(__file__).resolve().parents[2] / "spectrum_sync" / "emulator" / "ui"
              / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function"):
        assert sink not in script, sink
