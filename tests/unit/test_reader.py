"""One resumable stream, driven by scripted calls: the head, the replays, the subscribe
race, gaps, reconnects (no network)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc
from support.fakes import FakeRpcError

from spectrum_sync import ReceiveOptions
from spectrum_sync._proto import events_pb2, messages_pb2
from spectrum_sync._receive.heads import CatchUpRounds
from spectrum_sync._receive.health import LineHealth
from spectrum_sync._receive.ledger import Committer, Ledger
from spectrum_sync._receive.options import family
from spectrum_sync._receive.reader import StreamReader
from spectrum_sync._state.memory import MemoryStore


def event(seq: int) -> messages_pb2.MessageChangeEvent:
    return messages_pb2.MessageChangeEvent(
        chat_guid="any;-;+15551111111",
        message_received=messages_pb2.MessageReceived(
            message=messages_pb2.Message(guid=f"m{seq}")))


class FakeCall:
    """A server stream: frames, then the end (or an error)."""

    def __init__(self, frames: list[Any], error: BaseException | None = None,
                 on_headers: Any = None) -> None:
        self.frames, self.error, self.on_headers = frames, error, on_headers
        self.cancelled = False

    def __iter__(self) -> Iterator[Any]:
        yield from self.frames
        if self.error is not None:
            raise self.error

    def initial_metadata(self) -> tuple[()]:
        if self.on_headers is not None:
            self.on_headers()
        return ()

    def cancel(self) -> bool:
        self.cancelled = True
        return True


class Server:
    """Hands out the scripted calls in order: catch-ups by ``after_sequence``, live ones."""

    def __init__(self, head: int) -> None:
        self.head = head
        self.live: list[FakeCall] = []
        self.replays: list[int | None] = []
        self.reject: set[int] = set()

    def open_stream(self, line: Any, request: Any) -> FakeCall:
        if isinstance(request, events_pb2.CatchUpEventsRequest):
            after = request.after_sequence if request.HasField("after_sequence") else None
            self.replays.append(after)
            if after is not None and after in self.reject:
                self.reject.discard(after)  # the server forgot that cursor once
                return FakeCall([], FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "gone"))
            start = 0 if after is None else after
            frames = [events_pb2.CatchUpEventsResponse(sequence=s, message_changed=event(s))
                      for s in range(start + 1, self.head + 1)]
            frames.append(events_pb2.CatchUpEventsResponse(
                complete=events_pb2.CatchUpEventsComplete(head_sequence=self.head)))
            return FakeCall(frames)
        return self.live.pop(0)


class Engine:
    """What a reader needs of its engine, recording what it hands out."""

    def __init__(self, server: Server, stop_after: int) -> None:
        self.options = ReceiveOptions(backoff_initial=0.001, backoff_max=0.002)
        self.delivered: list[int] = []
        self.stop_after = stop_after
        self.reader: StreamReader | None = None
        self.done = threading.Event()

    def load_cursor(self, ledger: Ledger) -> int | None:
        ledger.load(None)
        return None

    def seen_before(self, line_key: str, seq: int, payload: Any) -> bool:
        return False

    def put(self, reader: Any, seq: int, payload: Any, ack: Any) -> None:
        self.delivered.append(seq)
        ack()
        if len(self.delivered) >= self.stop_after:
            reader.stop()
            self.done.set()



class Port:
    """The reader's :class:`StreamPort`: streams from the fake server, tokens that never
    change."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.rounds: CatchUpRounds[Any] = CatchUpRounds()

    def open_stream(self, line: Any, request: Any) -> FakeCall:
        return self.server.open_stream(line, request)

    def force_refresh(self) -> None:
        pass

    def token_generation(self) -> float:
        return 0.0

    def token_rejected(self, generation: float) -> None:
        pass

    def token_accepted(self, generation: float) -> None:
        pass


class Line:
    key = phone = "+15550000001"
    shared = False


def run(server: Server, stop_after: int) -> tuple[Engine, Ledger, LineHealth]:
    engine = Engine(server, stop_after)
    ledger = Ledger("k", Committer(MemoryStore(), 0, lambda exc: None))
    health = LineHealth(phone=Line.phone)
    reader = StreamReader(engine, Port(server), Line(),  # type: ignore[arg-type]
                          family("messages"), ledger, health)
    reader.thread.start()
    assert engine.done.wait(5), engine.delivered
    reader.thread.join(5)
    return engine, ledger, health


def live(*seqs: int, error: BaseException | None = None, on_headers: Any = None) -> FakeCall:
    frames = [messages_pb2.SubscribeMessageEventsResponse(sequence=s, message_changed=event(s))
              for s in seqs]
    return FakeCall(frames, error, on_headers)


def test_a_new_reader_starts_at_the_head_and_closes_the_subscribe_race() -> None:
    """Events landing before the server registers the subscription are in the replay."""
    server = Server(head=5)  # 1..5 are history: not delivered

    def events_land_before_the_server_registers_us() -> None:
        server.head = 7  # 6 and 7 happen now, and are not on the live stream

    server.live.append(live(8, 9, on_headers=events_land_before_the_server_registers_us))
    engine, ledger, _health = run(server, stop_after=4)
    assert engine.delivered == [6, 7, 8, 9]
    # The head, then one replay, started once the server confirmed the subscription.
    assert server.replays == [None, 5]
    assert ledger.committed == 9


def test_a_break_before_any_event_resumes_from_the_head() -> None:
    server = Server(head=3)
    broken = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "reset")

    def while_reconnecting() -> None:
        server.head = 6

    server.live += [live(error=broken), live(7, on_headers=while_reconnecting)]
    engine, _, health = run(server, stop_after=4)
    assert engine.delivered == [4, 5, 6, 7]
    assert health.reconnects == 1


def test_a_rejected_cursor_is_a_gap_then_what_the_server_still_holds() -> None:
    """After a gap the replay delivers all the server holds (it may be a restarted server
    whose events are all new), not just what comes after its head."""
    server = Server(head=10)
    server.reject = {10}
    server.live += [live(), live(11)]
    engine, _, health = run(server, stop_after=11)
    assert [g["family"] for g in health.gaps] == ["messages"]
    assert server.replays == [None, 10, None]  # the head; the rejected cursor; everything
    assert engine.delivered == list(range(1, 12))
