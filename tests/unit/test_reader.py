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
from spectrum_sync._receive.reader import StreamReader, _replay_for
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

    def __init__(self, head: int, oldest: int = 1) -> None:
        self.head = head
        self.oldest = oldest  # the oldest event it still holds
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
            start = self.oldest - 1 if after is None else after
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


def test_a_cursor_older_than_the_log_is_a_gap_in_a_replay_of_everything() -> None:
    """A family replaying everything (after a gap) and one with a cursor share a replay:
    the server then checks no cursor, so the reader checks the one it has against the
    oldest event replayed, and reports the gap the server would have."""
    server = Server(head=10, oldest=6)
    engine = Engine(server, stop_after=100)
    readers = []
    for name in ("messages", "groups"):
        ledger = Ledger(name, Committer(MemoryStore(), 0, lambda exc: None))
        readers.append(StreamReader(engine, Port(server), Line(),  # type: ignore[arg-type]
                                    family(name), ledger, LineHealth(phone=Line.phone)))
    stale, fresh = readers
    stale.covered, fresh.covered = 2, None
    assert _replay_for([fresh, stale]) == 10
    assert server.replays == [None]
    assert [(g["family"], g["cursor"]) for g in stale.health.gaps] == [("messages", 2)]
    assert fresh.health.gaps == []
    assert engine.delivered == [6, 7, 8, 9, 10]  # all it holds, to the stale reader
    # A cursor the log still covers is no gap; nor is one in an empty log at its head.
    for oldest, cursor in ((6, 5), (11, 10)):
        server = Server(head=10, oldest=oldest)
        stale.port = Port(server)
        stale.health.gaps.clear()
        stale.covered, fresh.covered = cursor, None
        _replay_for([stale, fresh])
        assert stale.health.gaps == []
