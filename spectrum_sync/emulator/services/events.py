"""EventService: finite replay of a line's event log (CatchUpEvents)."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message as ProtoMessage

from spectrum_sync._proto import events_pb2
from spectrum_sync.emulator.eventlog import Entry
from spectrum_sync.emulator.gateway import Call
from spectrum_sync.emulator.services.common import Service


def _frame(entry: Entry) -> ProtoMessage:
    out = events_pb2.CatchUpEventsResponse(sequence=entry.sequence)
    if entry.event is not None:
        getattr(out, entry.family).CopyFrom(entry.event)
    return out


def _complete(head: int) -> ProtoMessage:
    return events_pb2.CatchUpEventsResponse(
        complete=events_pb2.CatchUpEventsComplete(head_sequence=head))


class EventService(Service):
    """photon.imessage.v1.EventService."""

    def CatchUpEvents(self, request: events_pb2.CatchUpEventsRequest, call: Call,
                      ) -> Iterable[ProtoMessage]:
        after = request.after_sequence if request.HasField("after_sequence") else None
        return self.emu.hub.replay(call.line, call.context, after, _frame, _complete)
