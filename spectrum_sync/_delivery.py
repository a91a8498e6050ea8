"""Delivery state: waiting for a sent message to be delivered, and its errors.

``message.wait_delivered()`` polls ``GetMessage`` (the protocol has no "delivered" event)
with a backoff, so that a notification can fall back to SMS or e-mail when iMessage did not
deliver (docs/behaviour.md, "Delivery state").
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ._errors import SpectrumError
from ._validate import check_interval

if TYPE_CHECKING:
    from ._models import Message

__all__ = ["DeliveryFailed", "DeliveryTimeout", "wait_delivered"]

#: The longest pause between two polls: a delivery is usually reported within seconds.
MAX_POLL_INTERVAL = 5.0


class DeliveryFailed(SpectrumError):
    """Apple reported a send error for the message (``send_error_code``, Apple's own
    number, is on the exception and on ``message``): it will not be delivered over this
    service. Fall back to another channel (SMS, e-mail)."""

    default_code = "sendError"
    _not_pickled = ("sent_message",)

    def __init__(self, message: Message) -> None:
        super().__init__(
            f"message {message.guid} was not delivered: Apple reported send error "
            f"{message.send_error_code}", context={"sendErrorCode": str(
                message.send_error_code)})
        self.send_error_code = message.send_error_code
        self.sent_message = message


class DeliveryTimeout(SpectrumError, TimeoutError):
    """The message was not reported delivered within the time given to
    :meth:`~spectrum_sync.Message.wait_delivered` (it may still be delivered later);
    ``sent_message`` is its last known state."""

    default_code = "timeout"
    _not_pickled = ("sent_message",)

    def __init__(self, message: Message, waited: float) -> None:
        super().__init__(f"message {message.guid} was not reported delivered within "
                         f"{waited:g} s", retryable=True)
        self.sent_message = message


def wait_delivered(message: Message, timeout: float, interval: float) -> Message:
    """See :meth:`~spectrum_sync.Message.wait_delivered`."""
    total = check_interval("timeout", timeout, minimum=0.001)
    pause = check_interval("interval", interval, minimum=0.01)
    deadline = time.monotonic() + total
    current = message
    while True:
        if current.send_error_code:
            raise DeliveryFailed(current)
        if current.is_delivered:
            return current
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeliveryTimeout(current, total)
        time.sleep(min(pause, left))
        pause = min(pause * 2, MAX_POLL_INTERVAL)
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeliveryTimeout(current, total)
        current = current.refresh(timeout=left)
