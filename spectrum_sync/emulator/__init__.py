"""The embedded Spectrum emulator: Spectrum Cloud (REST + gRPC) in one process, in memory.

``from spectrum_sync.emulator import Emulator``; see :class:`Emulator` for the control API.
"""

from __future__ import annotations

from spectrum_sync.emulator.emulator import Emulator, LineInfo, RecordedCall
from spectrum_sync.emulator.errors import EmulatorError
from spectrum_sync.emulator.quotas import Throttles
from spectrum_sync.emulator.webhooks import WebhookDelivery

__all__ = ["Emulator", "EmulatorError", "LineInfo", "RecordedCall", "Throttles",
           "WebhookDelivery"]
