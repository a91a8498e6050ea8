"""The emulator's REST side: Spectrum Cloud's endpoints and the /_emulator/ admin API."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.factories import EmulatorFactory

from spectrum_sync._proto import chats_pb2, chats_pb2_grpc, messages_pb2, messages_pb2_grpc
from spectrum_sync.emulator import Emulator

LINES = ["+15550000001", "+15550000002"]


def request(
    url: str, *, method: str = "GET", auth: tuple[str, str] | None = None,
    body: Any = None, raw: bytes | None = None, context: ssl.SSLContext | None = None,
) -> tuple[int, Any]:
    """One HTTP call; returns (status, parsed JSON body)."""
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """The ``emu`` of these tests: two lines, tokens living ten minutes."""
    return {"plan": "dedicated", "lines": LINES, "token_ttl": 600, "heartbeat_interval": 0.5}


def tokens_url(emu: Emulator, project: str = "proj") -> str:
    return f"{emu.cloud_url}/projects/{project}/imessage/tokens"


def exchange(emu: Emulator) -> dict[str, Any]:
    status, body = request(tokens_url(emu), method="POST", auth=("proj", "secret"))
    assert status == 200, body
    assert body["succeed"] is True
    data: dict[str, Any] = body["data"]
    return data


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


# -- token exchange -------------------------------------------------------------------------


def test_dedicated_token_exchange_shape(emu: Emulator) -> None:
    data = exchange(emu)
    assert data["type"] == "dedicated"
    assert data["expiresIn"] == 600
    assert sorted(data["numbers"].values()) == LINES
    assert set(data["auth"]) == set(data["numbers"])
    assert all(isinstance(t, str) and t for t in data["auth"].values())
    for instance, token in data["auth"].items():
        assert emu.line_for_token(token).number == data["numbers"][instance]


def test_shared_token_exchange_shape(make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(plan="shared", token_ttl=120, heartbeat_interval=30.0)
    data = exchange(emu)
    assert data["type"] == "shared"
    assert data["expiresIn"] == 120
    assert isinstance(data["token"], str) and data["token"]
    assert "auth" not in data
    status, body = request(f"{emu.cloud_url}/projects/proj/imessage/")
    assert (status, body["data"]) == (200, {"type": "shared"})


def test_each_exchange_issues_a_fresh_token_that_works(emu: Emulator) -> None:
    first, second = exchange(emu), exchange(emu)
    instance = next(iter(first["auth"]))
    assert first["auth"][instance] != second["auth"][instance]
    with grpc.insecure_channel(emu.grpc_address) as channel:
        stub = chats_pb2_grpc.ChatServiceStub(channel)
        for data in (first, second):
            reply = stub.CreateChat(
                chats_pb2.CreateChatRequest(addresses=["+15551112222"]),
                metadata=bearer(data["auth"][instance]), timeout=5,
            )
            assert reply.chat.guid.endswith(";-;+15551112222")


@pytest.mark.parametrize(
    ("auth", "code"),
    [
        (None, "UNAUTHORIZED"),
        (("proj", "wrong"), "INVALID_CREDENTIALS"),
        (("other", "secret"), "INVALID_CREDENTIALS"),
    ],
)
def test_wrong_credentials_are_401_with_error_body(
    emu: Emulator, auth: tuple[str, str] | None, code: str
) -> None:
    status, body = request(tokens_url(emu), method="POST", auth=auth)
    assert status == 401
    assert body["code"] == code
    assert body["message"]
    assert "secret" not in json.dumps(body)


def test_malformed_basic_header_is_401(emu: Emulator) -> None:
    req = urllib.request.Request(
        tokens_url(emu), method="POST", headers={"Authorization": "Basic !!!not-base64"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 401
    assert json.loads(err.value.read())["code"] == "UNAUTHORIZED"


def test_unknown_project_is_404(emu: Emulator) -> None:
    status, body = request(tokens_url(emu, "nope"), method="POST", auth=("nope", "secret"))
    assert (status, body["code"]) == (404, "PROJECT_NOT_FOUND")


def test_unknown_route_is_404_json(emu: Emulator) -> None:
    status, body = request(f"{emu.cloud_url}/projects/proj/whatsapp/tokens", method="POST")
    assert (status, body["code"]) == (404, "NOT_FOUND")
    status, body = request(f"{emu.cloud_url}/elsewhere")
    assert (status, body["code"]) == (404, "NOT_FOUND")


def test_project_info_needs_credentials(emu: Emulator) -> None:
    status, body = request(f"{emu.cloud_url}/projects/proj/", auth=("proj", "secret"))
    assert status == 200
    assert body["succeed"] is True
    assert body["data"]["id"] == "proj"
    assert {"name", "slug", "profile"} <= set(body["data"])
    status, body = request(f"{emu.cloud_url}/projects/proj/", auth=("proj", "bad"))
    assert status == 401


def test_imessage_info_reports_the_plan(emu: Emulator) -> None:
    status, body = request(f"{emu.cloud_url}/projects/proj/imessage/")
    assert (status, body) == (200, {"succeed": True, "data": {"type": "dedicated"}})


def test_expired_token_is_rejected_with_token_expired(make_emulator: EmulatorFactory) -> None:
    now = [1_700_000_000.0]
    emu = make_emulator(plan="dedicated", lines=LINES[:1], token_ttl=60, clock=lambda: now[0],
                        heartbeat_interval=30.0)
    token = next(iter(exchange(emu)["auth"].values()))
    with grpc.insecure_channel(emu.grpc_address) as channel:
        stub = chats_pb2_grpc.ChatServiceStub(channel)
        request_ = chats_pb2.CreateChatRequest(addresses=["+15551112222"])
        stub.CreateChat(request_, metadata=bearer(token), timeout=5)
        now[0] += 61
        with pytest.raises(grpc.RpcError) as err:
            stub.CreateChat(request_, metadata=bearer(token), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        trailers = dict(err.value.trailing_metadata() or ())
        assert trailers["error-code"] == "tokenExpired"
        # A new exchange gives a working token again.
        fresh = next(iter(exchange(emu)["auth"].values()))
        stub.CreateChat(request_, metadata=bearer(fresh), timeout=5)


# -- REST fault injection -------------------------------------------------------------------


def test_fail_next_then_recover(emu: Emulator) -> None:
    emu.rest.fail_next(2, status=503, code="SERVICE_UNAVAILABLE")
    for _ in range(2):
        status, body = request(tokens_url(emu), method="POST", auth=("proj", "secret"))
        assert (status, body["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert exchange(emu)["type"] == "dedicated"


def test_fail_next_with_a_custom_body(emu: Emulator) -> None:
    emu.rest.fail_next(1, status=200, body='{"succeed": false}')
    status, body = request(tokens_url(emu), method="POST", auth=("proj", "secret"))
    assert (status, body) == (200, {"succeed": False})
    emu.rest.fail_next(1, status=502, body='"gateway"')
    status, body = request(tokens_url(emu), method="POST", auth=("proj", "secret"))
    assert (status, body) == (502, "gateway")


def test_requests_are_recorded_without_credentials(emu: Emulator) -> None:
    exchange(emu)
    assert ("POST", "/projects/proj/imessage/tokens") in emu.rest.requests
    assert "secret" not in repr(emu.rest.requests)


def test_concurrent_exchanges(emu: Emulator) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(10):
                exchange(emu)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []


def test_rest_restart_keeps_the_port(emu: Emulator) -> None:
    url = emu.cloud_url
    emu.rest.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/projects/proj/imessage/", timeout=2)
    emu.rest.start()
    assert emu.cloud_url == url
    assert exchange(emu)["type"] == "dedicated"


# -- admin API ------------------------------------------------------------------------------


def test_admin_inbound_creates_a_real_message(emu: Emulator) -> None:
    status, body = request(
        f"{emu.cloud_url}/_emulator/inbound", method="POST",
        body={"from": "+15551111111", "text": "hi from admin", "line": LINES[0]},
    )
    assert status == 200
    guid = body["guid"]
    token = exchange(emu)["auth"]
    line_token = next(t for t in token.values() if emu.line_for_token(t).number == LINES[0])
    with grpc.insecure_channel(emu.grpc_address) as channel:
        stub = messages_pb2_grpc.MessageServiceStub(channel)
        got = stub.GetMessage(
            messages_pb2.GetMessageRequest(message_guid=guid),
            metadata=bearer(line_token), timeout=5,
        )
    assert got.message.content.text == "hi from admin"
    assert got.message.sender.address == "+15551111111"
    assert got.message.is_from_me is False


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1, 2]", b'{"from": 5, "text": "x"}', b'{"text": "no sender"}',
     b'{"from": "+15551111111", "text": "x", "line": "+19999999999"}',
     b'{"from": "not an address", "text": "x"}'],
)
def test_admin_inbound_bad_input_is_400(emu: Emulator, raw: bytes) -> None:
    status, body = request(f"{emu.cloud_url}/_emulator/inbound", method="POST", raw=raw)
    assert status == 400, body
    assert body["code"] == "INVALID_ARGUMENT"
    # The server is still fine afterwards.
    assert exchange(emu)["type"] == "dedicated"


def test_admin_lines_add_and_remove_show_in_the_next_exchange(emu: Emulator) -> None:
    status, body = request(
        f"{emu.cloud_url}/_emulator/lines", method="POST", body={"add": "+15550000003"}
    )
    assert status == 200 and body["instanceId"]
    status, _ = request(
        f"{emu.cloud_url}/_emulator/lines", method="POST", body={"remove": LINES[1]}
    )
    assert status == 200
    numbers = exchange(emu)["numbers"]
    assert sorted(numbers.values()) == [LINES[0], "+15550000003"]
    assert numbers[body["instanceId"]] == "+15550000003"
    status, err = request(f"{emu.cloud_url}/_emulator/lines", method="POST", body={})
    assert (status, err["code"]) == (400, "INVALID_ARGUMENT")
    status, err = request(
        f"{emu.cloud_url}/_emulator/lines", method="POST", body={"remove": "+15559999999"}
    )
    assert status == 400


def test_admin_state_is_json_with_lines(emu: Emulator) -> None:
    request(
        f"{emu.cloud_url}/_emulator/inbound", method="POST",
        body={"from": "+15551111111", "text": "counted", "line": LINES[0]},
    )
    status, state = request(f"{emu.cloud_url}/_emulator/state")
    assert status == 200
    assert state == json.loads(json.dumps(emu.state()))
    text = json.dumps(state)
    for number in LINES:
        assert number in text


def test_admin_fail_next_injects_a_grpc_fault(emu: Emulator) -> None:
    status, _ = request(
        f"{emu.cloud_url}/_emulator/fail-next", method="POST",
        body={"count": 1, "code": "UNAVAILABLE", "retryable": True, "method": "CreateChat"},
    )
    assert status == 200
    token = next(iter(exchange(emu)["auth"].values()))
    with grpc.insecure_channel(emu.grpc_address) as channel:
        stub = chats_pb2_grpc.ChatServiceStub(channel)
        req = chats_pb2.CreateChatRequest(addresses=["+15551112222"])
        with pytest.raises(grpc.RpcError) as err:
            stub.CreateChat(req, metadata=bearer(token), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert dict(err.value.trailing_metadata() or ())["x-retryable"] == "true"
        stub.CreateChat(req, metadata=bearer(token), timeout=5)
    status, body = request(
        f"{emu.cloud_url}/_emulator/fail-next", method="POST", body={"count": "two"}
    )
    assert (status, body["code"]) == (400, "INVALID_ARGUMENT")


def test_admin_cut_streams_ends_open_streams(emu: Emulator) -> None:
    token = next(iter(exchange(emu)["auth"].values()))
    with grpc.insecure_channel(emu.grpc_address) as channel:
        stub = messages_pb2_grpc.MessageServiceStub(channel)
        stream = stub.SubscribeMessageEvents(
            messages_pb2.SubscribeMessageEventsRequest(), metadata=bearer(token), timeout=20
        )
        first = next(stream)  # a heartbeat (0.5 s) proves the stream is open
        assert first.WhichOneof("payload") == "heartbeat"
        status, _ = request(f"{emu.cloud_url}/_emulator/cut-streams", method="POST")
        assert status == 200
        with pytest.raises(grpc.RpcError) as err:
            for _ in stream:
                pass
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_admin_unknown_route(emu: Emulator) -> None:
    status, body = request(f"{emu.cloud_url}/_emulator/nothing", method="POST", body={})
    assert (status, body["code"]) == (404, "NOT_FOUND")


# -- TLS ------------------------------------------------------------------------------------




def test_tls_on_both_servers(certificate: tuple[str, str], make_emulator: EmulatorFactory) -> None:
    cert, key = certificate
    emu = make_emulator(plan="shared", tls=(cert, key), heartbeat_interval=30.0)
    assert emu.cloud_url.startswith("https://")
    env = emu.env()
    assert env["SPECTRUM_IMESSAGE_TLS"] == "true"
    assert env["SPECTRUM_TLS_CA_FILE"] == cert
    context = ssl.create_default_context(cafile=cert)
    status, body = request(tokens_url(emu), method="POST", auth=("proj", "secret"),
                           context=context)
    assert status == 200
    token = body["data"]["token"]
    with pytest.raises(urllib.error.URLError):  # plain trust store: rejected
        urllib.request.urlopen(f"{emu.cloud_url}/projects/proj/imessage/", timeout=5,
                               context=ssl.create_default_context())
    creds = grpc.ssl_channel_credentials(root_certificates=Path(cert).read_bytes())
    with grpc.secure_channel(emu.grpc_address, creds) as channel:
        stub = chats_pb2_grpc.ChatServiceStub(channel)
        reply = stub.CreateChat(
            chats_pb2.CreateChatRequest(addresses=["+15551112222"]),
            metadata=bearer(token), timeout=5,
        )
        assert reply.chat.guid.endswith(";-;+15551112222")


def test_admin_bulk_inbound(emu: Emulator) -> None:
    status, body = request(
        f"{emu.cloud_url}/_emulator/inbound", method="POST",
        body={"from": "+15551111111", "text": "bulk", "line": LINES[0], "count": 5},
    )
    assert status == 200
    assert len(set(body["guids"])) == 5
    line_state = next(ln for ln in emu.state()["lines"] if ln["number"] == LINES[0])
    assert line_state["messages"] == 5
    status, body = request(
        f"{emu.cloud_url}/_emulator/inbound", method="POST",
        body={"from": "+15551111111", "text": "bulk", "count": 0},
    )
    assert (status, body["code"]) == (400, "INVALID_ARGUMENT")
