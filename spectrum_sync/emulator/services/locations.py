"""LocationService: friends' locations shared with the line (Find My).

Locations are set from the control API (:meth:`Emulator.set_friend_location`). The watch
stream carries updates made after it opened, outside the event log (no sequence, no
catch-up), with heartbeats, as the service's feed does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from spectrum_sync._proto import common_pb2, locations_pb2
from spectrum_sync.emulator.addresses import normalize_address
from spectrum_sync.emulator.errors import invalid, not_found
from spectrum_sync.emulator.gateway import Call
from spectrum_sync.emulator.services.common import Service, chat_of
from spectrum_sync.emulator.state import copy

# How often a watch loop looks at the stop flag and the client's cancellation.
_POLL = 0.25


def _address(raw: str) -> str:
    if not raw:
        raise invalid("address is required", field="address")
    return normalize_address(raw)


class LocationService(Service):
    """photon.imessage.v1.LocationService."""

    def ListSharedFriendLocations(self, request: locations_pb2.ListSharedFriendLocationsRequest,
                                  call: Call) -> locations_pb2.ListSharedFriendLocationsResponse:
        with self.emu.lock:
            found = [copy(loc) for loc in call.line.friend_locations.values()]
        return locations_pb2.ListSharedFriendLocationsResponse(locations=found)

    def GetSharedFriendLocation(self, request: locations_pb2.GetSharedFriendLocationRequest,
                                call: Call) -> locations_pb2.GetSharedFriendLocationResponse:
        address = _address(request.address)
        with self.emu.lock:
            found = call.line.friend_locations.get(address)
            if found is None:
                raise not_found("sharedFriendLocationNotFound",
                                f"{address} shares no location with this line", address=address)
            return locations_pb2.GetSharedFriendLocationResponse(location=copy(found))

    def RequestFriendLocationSharing(
            self, request: locations_pb2.RequestFriendLocationSharingRequest, call: Call,
    ) -> locations_pb2.RequestFriendLocationSharingResponse:
        chat = chat_of(call.line, request.chat_guid)
        address = _address(request.address)
        if address not in chat.participants:
            raise invalid(f"{address} is not in chat {chat.guid}", field="address")
        call.line.location_requests.append((chat.guid, address))
        return locations_pb2.RequestFriendLocationSharingResponse(address=address, status="sent")

    def WatchSharedFriendLocations(
            self, request: locations_pb2.WatchSharedFriendLocationsRequest, call: Call,
    ) -> Iterator[locations_pb2.WatchSharedFriendLocationsResponse]:
        emu, line = self.emu, call.line
        wanted = _address(request.address) if request.HasField("address") else None
        with emu.lock:
            seen = line.location_feed_total
        # Registered like the event streams, so that cuts, line removal and stop end it.
        sub = emu.hub.open(line, call.context)
        call.context.send_initial_metadata(())
        try:
            last = time.monotonic()
            while not emu.hub.ended(sub):
                with emu.lock:
                    if line.location_feed_total == seen and sub.ended is None:
                        line.cond.wait(min(emu.heartbeat_interval, _POLL))
                    fresh = min(line.location_feed_total - seen, len(line.location_feed))
                    updates = list(line.location_feed)[-fresh:] if fresh else []
                    seen = line.location_feed_total
                for update in updates:
                    if wanted is None or update.location.address == wanted:
                        yield locations_pb2.WatchSharedFriendLocationsResponse(
                            location_updated=copy(update))
                        last = time.monotonic()
                if time.monotonic() - last >= emu.heartbeat_interval:
                    yield locations_pb2.WatchSharedFriendLocationsResponse(
                        heartbeat=common_pb2.Heartbeat())
                    last = time.monotonic()
        finally:
            emu.hub.close(sub)
