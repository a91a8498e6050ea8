"""GroupService (being written)."""

from __future__ import annotations

from spectrum_sync.emulator.services.common import Service


class GroupService(Service):
    """photon.imessage.v1.GroupService."""
