"""The consumer step shared by the generator and the callbacks
(spectrum_sync/_receive/consume.py), on real deliveries of a stand-in reader: what is left
unacknowledged, what is settled at once, what is handed to the consumer."""

from __future__ import annotations

import threading
import time
from typing import Any

from spectrum_sync._receive.consume import ConsumerStep
from spectrum_sync._receive.engine import Delivery, InFlight
from spectrum_sync._receive.leases import Tenure


class Reader:
    """What a delivery needs of its reader."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.in_flight = InFlight()
        self.phone = "+15550000001"
        self.family_name = "messages"


class Event:
    def __init__(self, kind: str) -> None:
        self.kind = kind


def delivery(reader: Reader, acked: list[int], seq: int,
             tenure: Tenure | None = None) -> Delivery:
    return Delivery(reader, seq, f"payload-{seq}", lambda: acked.append(seq),  # type: ignore[arg-type]
                    tenure)


def step_over(*queued: Delivery | None, kinds: dict[str, str] | None = None,
              wanted: str = "message") -> ConsumerStep:
    """A step over ``queued`` (then nothing), decoding payloads to ``kinds`` (None: a kind
    this version lacks), wanting events of the kind ``wanted``."""
    pending = list(queued)
    names = kinds or {}

    def get(wait: float) -> Delivery | None:
        return pending.pop(0) if pending else None

    def decode(item: Delivery) -> Any:
        kind = names.get(item.payload, "message")
        return None if kind == "unknown" else Event(kind)

    return ConsumerStep(get, decode, lambda event: event.kind == wanted)  # type: ignore[arg-type]


def test_a_wanted_event_is_taken_and_left_for_the_consumer_to_settle() -> None:
    reader, acked = Reader(), []
    item = delivery(reader, acked, 1)
    taken = step_over(item)(0.0)
    assert taken is not None and taken[0] is item and taken[1].kind == "message"
    assert acked == [] and not reader.in_flight.wait_idle(0)  # in progress: a give-up waits
    item.settle()
    assert acked == [1] and reader.in_flight.wait_idle(0)


def test_unwanted_and_undecodable_events_are_settled_at_once() -> None:
    reader, acked = Reader(), []
    step = step_over(delivery(reader, acked, 1), delivery(reader, acked, 2),
                     kinds={"payload-1": "reaction", "payload-2": "unknown"})
    assert step(0.0) is None and step(0.0) is None
    assert acked == [1, 2] and reader.in_flight.wait_idle(0)


def test_a_stale_delivery_is_neither_taken_nor_acknowledged() -> None:
    stopped, acked = Reader(), []
    stopped.stopped.set()  # its line went to another receiver
    paused = Reader()  # its lease lapsed while it waited in the queue
    lapsed = Tenure(token=1, until=time.monotonic() - 0.001)
    later = Tenure(token=2, until=time.monotonic() + 60, since=time.monotonic() + 30)
    step = step_over(delivery(stopped, acked, 1), delivery(paused, acked, 2, lapsed),
                     delivery(paused, acked, 3, later))
    assert step(0.0) is None and step(0.0) is None and step(0.0) is None
    assert acked == []  # whoever reads the line next delivers them again
    assert stopped.in_flight.wait_idle(0) and paused.in_flight.wait_idle(0)


def test_nothing_within_the_wait_is_none() -> None:
    assert step_over()(0.0) is None
    assert step_over(None)(0.0) is None
