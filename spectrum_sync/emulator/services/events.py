"""EventService: finite replay of a line's event log (CatchUpEvents).

Catch-ups are expensive for the service, which serves a limited number at once (16 per
server); one more is refused with RESOURCE_EXHAUSTED ``serviceUnavailable``, retryable
(a client should queue its catch-ups: docs/behaviour.md, "Receiving").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import grpc
from google.protobuf.message import Message as ProtoMessage

from spectrum_sync._proto import events_pb2
from spectrum_sync.emulator.errors import EmulatorError
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
        return self._limited(call, after)

    def _limited(self, call: Call, after: int | None) -> Iterator[ProtoMessage]:
        emu = self.emu
        with emu.lock:
            if emu.catchups_in_flight >= emu.max_concurrent_catchups:
                emu.catchups_refused += 1
                limit = emu.max_concurrent_catchups
                raise EmulatorError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, "serviceUnavailable",
                    f"too many concurrent catch-ups (limit {limit})", retryable=True,
                    context={"limit": str(limit)})
            emu.catchups_in_flight += 1
            emu.catchups_peak = max(emu.catchups_peak, emu.catchups_in_flight)
        counted = True

        def done() -> None:
            nonlocal counted
            if counted:
                counted = False
                with emu.lock:
                    emu.catchups_in_flight -= 1

        try:
            if emu.catchup_delay:
                emu.sleep(emu.catchup_delay)  # an expensive replay, as on the service
            for out in emu.hub.replay(call.line, call.context, after, _frame, _complete):
                if out.HasField("complete"):
                    # The work is done once the complete frame exists: a client may start its
                    # next catch-up the moment it reads it, before this generator resumes.
                    done()
                yield out
        finally:
            done()
