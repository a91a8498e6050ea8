"""Error trailers stay within gRPC's limits whatever the client sends, so the client always
sees the real error (not RESOURCE_EXHAUSTED for oversized trailers, nor INTERNAL for an
illegal header value)."""

from __future__ import annotations

import grpc
import pytest
from emu_helpers import Api, rpc_error, trailers

from spectrum_sync._proto import chats_pb2, messages_pb2
from spectrum_sync.emulator import Emulator

TRAILER_BUDGET = 4096  # far below gRPC's 8 KiB default limit


def _size(err: grpc.RpcError) -> int:
    return sum(len(k) + len(v) for k, v in trailers(err).items()) + len(err.details() or "")


def _send(api: Api, chat_guid: str) -> grpc.RpcError:
    request = messages_pb2.SendTextMessageRequest(chat_guid=chat_guid, text="hi")
    return rpc_error(lambda: api.messages.SendTextMessage(request, metadata=api.md, timeout=5))


@pytest.mark.parametrize("guid", [
    "any;-;+1555" + "1" * 20_000,  # a DM guid whose address is 20 KB
    "any;+;" + "x" * 20_000,  # a group guid of 20 KB
])
def test_a_20_kb_chat_guid_gets_the_real_error(api: Api, guid: str) -> None:
    err = _send(api, guid)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(err)["error-code"] == "invalidArgument"
    assert _size(err) < TRAILER_BUDGET


def test_chat_guid_length_limit_is_1024_characters(api: Api) -> None:
    at_limit = "any;+;" + "x" * (1024 - 6)
    err = rpc_error(lambda: api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid=at_limit),
                                              metadata=api.md, timeout=5))
    assert err.code() == grpc.StatusCode.NOT_FOUND  # parsed, then simply unknown
    meta = trailers(err)
    assert meta["error-code"] == "chatNotFound"
    assert len(meta["error-context-chatguid"]) <= 256
    assert meta["error-context-chatguid"].endswith("...")

    over = at_limit + "x"
    err = rpc_error(lambda: api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid=over),
                                              metadata=api.md, timeout=5))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(err)["error-code"] == "invalidArgument"
    assert "1024" in (err.details() or "")


def test_non_ascii_input_echoed_in_trailers_is_escaped(api: Api) -> None:
    err = rpc_error(lambda: api.chats.GetChat(
        chats_pb2.GetChatRequest(chat_guid="any;+;é🙂\n"), metadata=api.md, timeout=5))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    value = trailers(err)["error-context-chatguid"]
    assert value.isascii() and value.isprintable()
    assert "\\xe9" in value


def test_a_20_kb_message_guid_gets_not_found(api: Api) -> None:
    err = rpc_error(lambda: api.messages.GetMessage(
        messages_pb2.GetMessageRequest(message_guid="M" * 20_000), metadata=api.md, timeout=5))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert trailers(err)["error-code"] == "messageNotFound"
    assert _size(err) < TRAILER_BUDGET


def test_injected_fault_context_is_bounded(emu: Emulator, api: Api) -> None:
    context = {f"key{i}": "v" * 20_000 for i in range(50)}
    emu.fail_next(1, "UNAVAILABLE", retryable=True, method="GetChat", context=context,
                  message="m" * 20_000)
    err = rpc_error(lambda: api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid="any;-;+1"),
                                              metadata=api.md, timeout=5))
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    meta = trailers(err)
    assert meta["x-retryable"] == "true"
    assert 1 <= sum(k.startswith("error-context-") for k in meta) <= 8
    assert _size(err) < TRAILER_BUDGET
