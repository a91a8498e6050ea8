"""The RPC table, derived from the protobuf descriptors (the one place that knows methods).

Every request message type belongs to exactly one method, so the request alone tells the
transport the method path, whether it streams, and whether it changes state (and so carries
an ``x-idempotency-key``). Services are registered lazily, the first time one of their
requests is seen: a client that only sends never loads the descriptors of polls or groups.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from google.protobuf.message import Message as ProtoMessage

__all__ = ["Rpc", "all_rpcs", "rpc_for"]

PACKAGE = "photon.imessage.v1"
_READ_PREFIXES = ("Get", "List", "Has")


class Rpc(NamedTuple):
    """One method of the API."""

    service: str  # "MessageService"
    name: str  # "SendTextMessage"
    path: str  # "/photon.imessage.v1.MessageService/SendTextMessage"
    request: type[ProtoMessage]
    response: type[ProtoMessage]
    streaming: bool  # server-streaming
    mutating: bool  # a unary call with side effects: it carries an idempotency key
    sets_client_message_id: bool  # the request has field 100, client_message_id


_table: dict[str, Rpc] = {}  # request full name -> Rpc; read without a lock
_lock = threading.Lock()
_registered: set[str] = set()


def _message_class(descriptor: Any) -> type[ProtoMessage]:
    from google.protobuf.message_factory import GetMessageClass

    cls: type[ProtoMessage] = GetMessageClass(descriptor)
    return cls


def _register(file: Any) -> None:
    # A FileDescriptor (of the pure-Python or the upb runtime: typed as Any for both).
    with _lock:
        if file.name in _registered:
            return
        for service in file.services_by_name.values():
            for method in service.methods:
                request = _message_class(method.input_type)
                streaming = bool(method.server_streaming)
                _table[method.input_type.full_name] = Rpc(
                    service=service.name,
                    name=method.name,
                    path=f"/{service.full_name}/{method.name}",
                    request=request,
                    response=_message_class(method.output_type),
                    streaming=streaming,
                    mutating=not streaming and not method.name.startswith(_READ_PREFIXES),
                    sets_client_message_id="client_message_id"
                    in method.input_type.fields_by_name,
                )
        _registered.add(file.name)


def rpc_for(request: ProtoMessage) -> Rpc:
    """The method that takes ``request`` (KeyError for a message that is no request)."""
    name = request.DESCRIPTOR.full_name
    found = _table.get(name)
    if found is None:
        _register(request.DESCRIPTOR.file)
        found = _table[name]
    return found


def all_rpcs() -> list[Rpc]:
    """Every method of the package (loads every service; for tests and diagnostics)."""
    from .._proto import (
        addresses_pb2,
        attachments_pb2,
        chats_pb2,
        events_pb2,
        groups_pb2,
        locations_pb2,
        messages_pb2,
        polls_pb2,
    )

    for module in (addresses_pb2, attachments_pb2, chats_pb2, events_pb2, groups_pb2,
                   locations_pb2, messages_pb2, polls_pb2):
        _register(module.DESCRIPTOR)
    return sorted(_table.values(), key=lambda rpc: rpc.path)
