"""Helpers for the emulator's gRPC tests: constants, stubs bundle, stream reader, errors."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from spectrum_sync._proto import (
    addresses_pb2_grpc,
    attachments_pb2_grpc,
    chats_pb2_grpc,
    events_pb2_grpc,
    groups_pb2_grpc,
    messages_pb2_grpc,
    polls_pb2_grpc,
)
from spectrum_sync.emulator import Emulator

LINE_A = "+15550000001"
LINE_B = "+15550000002"
ALICE = "+15551111111"
BOB = "+15552222222"
# 2026-03-01 12:00:00 UTC: a fixed, injectable clock makes quota days deterministic.
T0 = 1772366400.0


class Api:
    """Generated stubs (``messages``, ``chats``, ...) over one real loopback channel, bound to
    one line's token. Built from the generated modules only, so that these tests depend on
    the emulator and the wire contract, not on the client's internals."""

    def __init__(self, emu: Emulator, line: str | None = None, token: str | None = None
                 ) -> None:
        self.channel = grpc.insecure_channel(emu.grpc_address)
        self.messages = messages_pb2_grpc.MessageServiceStub(self.channel)
        self.chats = chats_pb2_grpc.ChatServiceStub(self.channel)
        self.groups = groups_pb2_grpc.GroupServiceStub(self.channel)
        self.polls = polls_pb2_grpc.PollServiceStub(self.channel)
        self.attachments = attachments_pb2_grpc.AttachmentServiceStub(self.channel)
        self.addresses = addresses_pb2_grpc.AddressServiceStub(self.channel)
        self.events = events_pb2_grpc.EventServiceStub(self.channel)
        self.token = token if token is not None else emu.token(line)
        self.md: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {self.token}"),)

    def metadata(self, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        """Auth metadata plus ``extra`` pairs."""
        return self.md + tuple(extra)

    def close(self) -> None:
        self.channel.close()


class StreamReader:
    """Reads a server stream on a thread; frames (and the final error) go to a queue."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.frames: queue.Queue[Any] = queue.Queue()
        self.error: grpc.RpcError | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for frame in self.call:
                self.frames.put(frame)
        except grpc.RpcError as exc:
            self.error = exc
        finally:
            self.done.set()

    def next(self, timeout: float = 5.0) -> Any:
        """The next frame (fails the test after ``timeout``)."""
        return self.frames.get(timeout=timeout)

    def next_event(self, timeout: float = 5.0) -> Any:
        """The next frame that is not a heartbeat."""
        while True:
            frame = self.next(timeout)
            if frame.WhichOneof("payload") != "heartbeat":
                return frame

    def wait_end(self, timeout: float = 5.0) -> grpc.RpcError | None:
        """Wait for the stream to end; returns its error (``None``: ended cleanly)."""
        assert self.done.wait(timeout), "stream did not end"
        return self.error

    def close(self) -> None:
        self.call.cancel()
        self._thread.join(5)


def rpc_error(fn: Callable[[], Any]) -> grpc.RpcError:
    """Run ``fn`` expecting a gRPC error; return it."""
    with pytest.raises(grpc.RpcError) as info:
        fn()
    return info.value


def trailers(err: grpc.RpcError) -> dict[str, str]:
    """The trailing metadata of a failed call as a dict."""
    call: Any = err  # a failed call is both an RpcError and a grpc.Call
    return {str(k): str(v) for k, v in call.trailing_metadata() or ()}
