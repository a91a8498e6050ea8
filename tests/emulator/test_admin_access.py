"""Who may drive the /_emulator/ admin API: this machine, or whoever holds the admin token.

A web page in a developer's browser must not be able to (cross-site POSTs, DNS rebinding);
the cloud endpoints under /projects/ stay open to every client."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from admin_http import JSON, admin, call
from emu_helpers import ALICE, LINE_A

from spectrum_sync.emulator import Emulator
from spectrum_sync.emulator.rest import HttpError

INBOUND = {"from": ALICE, "text": "hi", "line": LINE_A}


def _messages(emu: Emulator) -> int:
    return len(emu.messages())


# -- content type -----------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [
    None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/jsonp", "application/json-patch+json",
])
def test_admin_post_without_json_content_type_is_415(emu: Emulator,
                                                     content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    answer = admin(emu, "inbound", INBOUND, headers=headers)
    assert answer.status == 415, answer
    assert answer.body["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert answer.body["message"]
    assert _messages(emu) == 0


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "Application/JSON",
])
def test_admin_post_with_json_content_type_is_served(emu: Emulator, content_type: str) -> None:
    answer = admin(emu, "inbound", INBOUND, headers={"Content-Type": content_type})
    assert answer.status == 200, answer
    assert _messages(emu) == 1


def test_every_admin_post_route_checks_the_content_type(emu: Emulator) -> None:
    for route in ("inbound", "lines", "fail-next", "delay", "cut-streams", "reset",
                  "revoke-tokens", "restart"):
        answer = admin(emu, route, {}, headers={"Content-Type": "text/plain"})
        assert answer.status == 415, (route, answer)
    assert emu.running


# -- Host and Origin --------------------------------------------------------------------------


@pytest.mark.parametrize("host", [
    "evil.example", "evil.example:8080", "localhost.evil.example", "127.0.0.1.nip.io",
    "127.0.0.2", "0.0.0.0", "[::2]:80", "localhost:http", "", "[::1", "LOCALHOST:x",
])
def test_admin_with_a_foreign_host_header_is_403(emu: Emulator, host: str) -> None:
    headers = {**JSON, "Host": host}
    post = admin(emu, "inbound", INBOUND, headers=headers)
    assert post.status == 403, (host, post)
    assert post.body["code"] == "FORBIDDEN"
    get = call(emu, "GET", "/_emulator/state", headers=headers)
    assert get.status == 403, (host, get)
    assert call(emu, "GET", "/_emulator/messages", headers=headers).status == 403
    assert _messages(emu) == 0


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.0.0.1:1", "localhost", "LocalHost:65535", "[::1]", "[::1]:9",
])
def test_admin_with_a_loopback_host_header_is_served(emu: Emulator, host: str) -> None:
    assert admin(emu, "inbound", INBOUND, headers={**JSON, "Host": host}).status == 200
    assert call(emu, "GET", "/_emulator/state", headers={"Host": host}).status == 200


def test_admin_request_without_a_host_header_is_403(emu: Emulator) -> None:
    with socket.create_connection(("127.0.0.1", emu.http_port), timeout=5) as sock:
        sock.sendall(b"GET /_emulator/state HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 403 ") or answer.startswith(b"HTTP/1.1 403 ")


@pytest.mark.parametrize("origin", [
    "http://evil.example", "https://evil.example:443", "null", "http://localhost.evil.example",
    "file://", "http://127.0.0.1.nip.io:8000",
])
def test_cross_origin_admin_requests_are_403(emu: Emulator, origin: str) -> None:
    answer = admin(emu, "inbound", INBOUND, headers={**JSON, "Origin": origin})
    assert answer.status == 403, (origin, answer)
    assert call(emu, "GET", "/_emulator/state", headers={"Origin": origin}).status == 403
    assert _messages(emu) == 0


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1",
                                    "https://[::1]:8443"])
def test_loopback_origins_are_served(emu: Emulator, origin: str) -> None:
    assert admin(emu, "inbound", INBOUND, headers={**JSON, "Origin": origin}).status == 200


# -- the peer address -------------------------------------------------------------------------


def _other_local_address() -> str | None:
    """A non-loopback IPv4 address of this machine (None when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_a_remote_peer_with_a_loopback_host_header_is_403(
        make_emu: Callable[..., Emulator]) -> None:
    address = _other_local_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    emu = make_emu(host="0.0.0.0")
    headers = {**JSON, "Host": f"127.0.0.1:{emu.http_port}", "Origin": "http://127.0.0.1"}

    def over(host: str, method: str, path: str, body: Any = None,
             extra: dict[str, str] | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(host, emu.http_port, timeout=10)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={**headers, **(extra or {})})
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    # From this machine's other address the peer is not loopback: spoofed headers are not
    # enough, the token is.
    status, body = over(address, "POST", "/_emulator/inbound", INBOUND)
    assert (status, body["code"]) == (403, "FORBIDDEN")
    assert "x-emulator-token" in body["message"]
    assert over(address, "GET", "/_emulator/state")[0] == 403
    assert _messages(emu) == 0
    token = {"x-emulator-token": emu.admin_token}
    assert over(address, "POST", "/_emulator/inbound", INBOUND, token)[0] == 200
    assert over("127.0.0.1", "POST", "/_emulator/inbound", INBOUND)[0] == 200
    assert _messages(emu) == 2
    # The cloud endpoints stay open to every client.
    assert over(address, "GET", "/projects/proj/imessage/")[0] == 200


@pytest.mark.parametrize(("peer", "allowed"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("192.0.2.7", False), ("10.0.0.1", False), ("::ffff:192.0.2.7", False), ("fe80::1%eth0", False),
    ("0.0.0.0", False), ("", False), (None, False), ("localhost", False), ("garbage", False),
])
def test_the_access_decision_goes_by_the_peer_address(emu: Emulator, peer: str | None,
                                                      allowed: bool) -> None:
    rest = emu.rest
    assert rest is not None
    spoofed = {"host": "127.0.0.1", "origin": "http://localhost"}
    if allowed:
        rest.authorize_admin(peer, spoofed)
    else:
        with pytest.raises(HttpError) as caught:
            rest.authorize_admin(peer, spoofed)
        assert caught.value.status == 403
    # The token opens it from anywhere; a wrong one from nowhere.
    rest.authorize_admin(peer, {"x-emulator-token": emu.admin_token, "host": "x"})
    with pytest.raises(HttpError):
        rest.authorize_admin(peer, {**spoofed, "x-emulator-token": "wrong"})


# -- the admin token --------------------------------------------------------------------------


def test_admin_token_opens_the_api_from_any_host(emu: Emulator) -> None:
    token = emu.admin_token
    assert token and len(token) >= 16
    assert emu.env()["SPECTRUM_EMULATOR_ADMIN_TOKEN"] == token
    headers = {**JSON, "Host": "emulator.internal:8080", "Origin": "http://tool.internal",
               "x-emulator-token": token}
    assert admin(emu, "inbound", INBOUND, headers=headers).status == 200
    assert call(emu, "GET", "/_emulator/state", headers=headers).status == 200
    assert _messages(emu) == 1


def test_a_wrong_admin_token_is_403_even_from_loopback(emu: Emulator) -> None:
    for wrong in ("nope", emu.admin_token + "x", emu.admin_token[:-1], ""):
        answer = admin(emu, "inbound", INBOUND, headers={**JSON, "x-emulator-token": wrong})
        assert answer.status == 403, (wrong, answer)
        assert "token" in answer.body["message"]
    assert _messages(emu) == 0


def test_the_admin_token_does_not_lift_the_content_type_rule(emu: Emulator) -> None:
    headers = {"Content-Type": "text/plain", "x-emulator-token": emu.admin_token}
    assert admin(emu, "inbound", INBOUND, headers=headers).status == 415


def test_admin_tokens_are_random_unless_given(make_emu: Callable[..., Emulator]) -> None:
    first, second = make_emu(), make_emu()
    assert first.admin_token != second.admin_token
    fixed = make_emu(admin_token="fixed-admin-token-1")
    assert fixed.admin_token == "fixed-admin-token-1"
    headers = {**JSON, "Host": "elsewhere", "x-emulator-token": "fixed-admin-token-1"}
    assert admin(fixed, "cut-streams", headers=headers).status == 200


@pytest.mark.parametrize("bad", ["short", "has a space in it", "tab\there-1234", "é" * 10,
                                 "x" * 257])
def test_a_malformed_admin_token_is_refused_at_construction(bad: str) -> None:
    with pytest.raises(ValueError, match="admin_token"):
        Emulator(admin_token=bad)


# -- the cloud endpoints stay open; no CORS ---------------------------------------------------


def test_cloud_endpoints_are_not_restricted(emu: Emulator) -> None:
    basic = "Basic " + base64.b64encode(b"proj:secret").decode()
    headers = {"Host": "spectrum.photon.codes", "Origin": "https://app.example",
               "Authorization": basic}
    answer = call(emu, "POST", "/projects/proj/imessage/tokens", headers=headers)
    assert answer.status == 200, answer
    assert answer.body["succeed"] is True
    answer = call(emu, "GET", "/projects/proj/imessage/", headers={"Host": "anything"})
    assert answer.status == 200


@pytest.mark.parametrize(("method", "path"), [
    ("OPTIONS", "/_emulator/inbound"), ("GET", "/_emulator/state"),
    ("POST", "/_emulator/inbound"), ("OPTIONS", "/projects/proj/imessage/tokens"),
])
def test_no_cors_headers_ever(emu: Emulator, method: str, path: str) -> None:
    headers = {**JSON, "Origin": "http://evil.example",
               "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type"}
    answer = call(emu, method, path, INBOUND if method == "POST" else None, headers=headers)
    assert not [h for h in answer.headers if h.startswith("access-control-")]
    assert answer.status >= 400
    assert _messages(emu) == 0


# -- latency on a kept-alive connection -------------------------------------------------------


def test_admin_requests_on_a_kept_alive_connection_are_fast(emu: Emulator) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", emu.http_port, timeout=10)
    try:
        timings = []
        sockets: set[Any] = set()
        for n in range(50):
            started = time.perf_counter()
            answer = admin(emu, "inbound", {**INBOUND, "text": f"n{n}"}, conn=conn)
            timings.append(time.perf_counter() - started)
            assert answer.status == 200
            sockets.add(id(conn.sock))
        assert len(sockets) == 1, "the connection was not kept alive"
        # Nagle's algorithm meeting the client's delayed ACK made this ~40 ms per request.
        assert statistics.median(timings) < 0.020, timings
    finally:
        conn.close()
    assert _messages(emu) == 50
