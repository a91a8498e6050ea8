"""Bearer token checks on every call: missing, unknown, expired, removed line."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from emu_helpers import LINE_A, LINE_B, Api, rpc_error, trailers

from spectrum_sync._proto import chats_pb2
from spectrum_sync.emulator import Emulator


def _get_chat(api: Api, metadata: tuple[tuple[str, str], ...]) -> object:
    return api.chats.GetChatCount(chats_pb2.GetChatCountRequest(), metadata=metadata)


def test_valid_token_is_accepted(api: Api) -> None:
    assert _get_chat(api, api.md) == chats_pb2.GetChatCountResponse(count=0)


def test_missing_token_is_unauthenticated(api: Api) -> None:
    err = rpc_error(lambda: _get_chat(api, ()))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert trailers(err)["error-code"] == "unauthenticated"
    assert trailers(err)["x-retryable"] == "false"


def test_unknown_token_and_bad_scheme_are_unauthenticated(api: Api) -> None:
    for value in ("Bearer nope", "Basic abc", "Bearer ", api.token):
        err = rpc_error(lambda v=value: _get_chat(api, (("authorization", v),)))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, value
        assert trailers(err)["error-code"] == "unauthenticated"


def test_expired_token_says_token_expired(make_emu: Callable[..., Emulator],
                                          make_api: Callable[..., Api]) -> None:
    emu = make_emu(token_ttl=60)
    api = make_api(emu, LINE_A)
    assert _get_chat(api, api.md) is not None
    emu.advance_clock(61)
    err = rpc_error(lambda: _get_chat(api, api.md))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert trailers(err)["error-code"] == "tokenExpired"
    fresh = make_api(emu, LINE_A)  # a new exchange works again
    assert _get_chat(fresh, fresh.md) is not None


def test_token_exchange_gives_one_token_per_line(emu: Emulator) -> None:
    payload = emu.issue_token_payload()
    assert payload["type"] == "dedicated"
    assert set(payload["auth"]) == set(payload["numbers"])
    assert sorted(payload["numbers"].values()) == [LINE_A, LINE_B]
    for instance, token in payload["auth"].items():
        assert emu.line_for_token(token).number == payload["numbers"][instance]
    again = emu.issue_token_payload()
    assert set(again["auth"].values()).isdisjoint(payload["auth"].values())
    # older, unexpired tokens stay valid
    assert all(emu.line_for_token(t) for t in payload["auth"].values())


def test_shared_plan_has_one_pool_token(make_emu: Callable[..., Emulator],
                                        make_api: Callable[..., Api]) -> None:
    emu = make_emu(plan="shared")
    payload = emu.issue_token_payload()
    assert payload == {"type": "shared", "token": payload["token"], "expiresIn": 3600}
    api = make_api(emu, token=payload["token"])
    assert _get_chat(api, api.md) is not None


def test_token_of_removed_line_is_rejected(emu: Emulator, make_api: Callable[..., Api]) -> None:
    api = make_api(emu, LINE_B)
    assert _get_chat(api, api.md) is not None
    emu.remove_line(LINE_B)
    err = rpc_error(lambda: _get_chat(api, api.md))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


def test_tokens_pick_the_line(emu: Emulator, make_api: Callable[..., Api]) -> None:
    a, b = make_api(emu, LINE_A), make_api(emu, LINE_B)
    a.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=["+15551111111"]), metadata=a.md)
    assert a.chats.GetChatCount(chats_pb2.GetChatCountRequest(), metadata=a.md).count == 1
    assert b.chats.GetChatCount(chats_pb2.GetChatCountRequest(), metadata=b.md).count == 0
