"""AddressService: lookups in the emulator's address directory."""

from __future__ import annotations

from spectrum_sync._proto import addresses_pb2, common_pb2
from spectrum_sync.emulator.addresses import AddressEntry, normalize_address
from spectrum_sync.emulator.errors import not_found
from spectrum_sync.emulator.gateway import Call
from spectrum_sync.emulator.services.common import Service


class AddressService(Service):
    """photon.imessage.v1.AddressService."""

    def _entry(self, address: str) -> AddressEntry:
        return self.emu.directory.lookup(normalize_address(address))

    def GetAddressInfo(self, request: addresses_pb2.GetAddressInfoRequest, call: Call,
                       ) -> addresses_pb2.GetAddressInfoResponse:
        entry = self._entry(request.address)
        if not entry.services:
            raise not_found("addressNotFound", f"address {entry.address!r} is not known",
                            address=entry.address)
        info = common_pb2.MultiServiceAddressInfo(address=entry.address,
                                                  services=list(entry.services))
        if entry.country:
            info.country = entry.country
        return addresses_pb2.GetAddressInfoResponse(info=info)

    def GetIMessageAvailability(self, request: addresses_pb2.GetIMessageAvailabilityRequest,
                                call: Call) -> addresses_pb2.GetIMessageAvailabilityResponse:
        entry = self._entry(request.address)
        return addresses_pb2.GetIMessageAvailabilityResponse(
            is_available=common_pb2.CHAT_SERVICE_TYPE_IMESSAGE in entry.services)

    def GetFocusStatus(self, request: addresses_pb2.GetFocusStatusRequest, call: Call,
                       ) -> addresses_pb2.GetFocusStatusResponse:
        entry = self._entry(request.address)
        return addresses_pb2.GetFocusStatusResponse(is_silenced_by_focus=entry.focused)
