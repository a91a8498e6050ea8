"""Requests serialized by hand: an upload built in one buffer instead of a protobuf message.

``UploadAttachmentRequest`` carries the whole file in one ``bytes`` field (the wire contract
has no chunked upload). Built the ordinary way, a file costs four copies in memory: the bytes
read, the protobuf message's own copy, its serialization, and gRPC core's copy of that. Here
the file is read straight into the buffer that becomes the serialized request, which leaves
the two copies a single-message call cannot avoid: that buffer (grpcio takes a ``bytes``) and
gRPC core's copy of it (grpcio copies the message into a core slice and holds both until the
call ends).

A :class:`PreSerialized` request stands in for the protobuf message everywhere the transport
looks at one: its ``DESCRIPTOR`` names the method, ``SerializeToString()`` returns the
buffer (the same object on every retry, never a copy).
"""

from __future__ import annotations

from typing import Any, Callable

from .._proto import attachments_pb2

__all__ = ["PreSerialized", "upload_overhead", "upload_request"]

_DATA_TAG = b"\x12"  # field 2 (data), wire type 2 (length-delimited)


class PreSerialized:
    """A request whose wire bytes are already built (see the module docstring)."""

    __slots__ = ("DESCRIPTOR", "_payload")

    def __init__(self, descriptor: Any, payload: bytes) -> None:
        self.DESCRIPTOR = descriptor
        self._payload = payload

    def SerializeToString(self) -> bytes:
        return self._payload

    def ByteSize(self) -> int:
        return len(self._payload)

    def __repr__(self) -> str:
        return f"PreSerialized({self.DESCRIPTOR.name}, {len(self._payload)} bytes)"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def upload_overhead(file_name: str) -> int:
    """Bytes an upload request adds to the file itself (name field, data tag and length)."""
    head = attachments_pb2.UploadAttachmentRequest(file_name=file_name).ByteSize()
    return head + 1 + 10  # a varint of a 64-bit length is at most 10 bytes


def upload_request(file_name: str, size: int,
                   fill: Callable[[memoryview], None]) -> PreSerialized:
    """An ``UploadAttachmentRequest`` for a file of ``size`` bytes that ``fill`` writes into
    the view it is given (exactly ``size`` bytes)."""
    head = attachments_pb2.UploadAttachmentRequest(file_name=file_name).SerializeToString()
    prefix = head + _DATA_TAG + _varint(size)
    buffer = bytearray(len(prefix) + size)
    buffer[:len(prefix)] = prefix
    with memoryview(buffer) as view:
        fill(view[len(prefix):])
    # grpcio sends only ``bytes``: one copy now, after which the bytearray is released, so
    # the peak stays at two file sizes, where gRPC's own copy puts it during the call anyway.
    payload = bytes(buffer)
    del buffer
    return PreSerialized(attachments_pb2.UploadAttachmentRequest.DESCRIPTOR, payload)
