"""The embedded Spectrum emulator: Spectrum Cloud (REST + gRPC) in one process, in memory.

``from spectrum_sync.emulator import Emulator``; see :class:`Emulator` for the control API.
"""

from __future__ import annotations

from spectrum_sync.emulator.core import LineIdentity, RecordedCall
from spectrum_sync.emulator.emulator import Emulator
from spectrum_sync.emulator.errors import EmulatorError
from spectrum_sync.emulator.quotas import Throttles
from spectrum_sync.emulator.webhooks import WebhookDelivery

__all__ = ["Emulator", "EmulatorError", "LineIdentity", "RecordedCall", "Throttles",
           "WebhookDelivery"]

#: The old name of :class:`LineIdentity`, kept for existing imports (it read as the
#: client's ``spectrum_sync.LineInfo``, a different type).
LineInfo = LineIdentity
