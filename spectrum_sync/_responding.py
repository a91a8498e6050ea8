"""``space.responding()``: a typing indicator kept alive while an answer is prepared.

A one-off ``SetTyping(true)`` may fade on the recipient's screen during a long block, so a
small thread (``spectrum-responding``) sends it again every ``refresh`` seconds until the
block ends. The thread is joined before the indicator is turned off, so a late refresh can
never switch it back on after the final ``SetTyping(false)``. In a uWSGI master, which
starts no thread of ours (docs/behaviour.md, "Lifecycle and fork"), the indicator is set
once, not refreshed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Protocol, TypeVar

from ._fork import background_thread

__all__ = ["responding"]

log = logging.getLogger("spectrum_sync")

# A refresh that cannot get through quickly is skipped: the next one comes soon anyway, and
# the end of the block waits for the one in flight.
_REFRESH_CALL_CAP = 10.0


class Typing(Protocol):
    """What this module needs of a space: its ``id`` (for logs) and ``set_typing``."""

    @property
    def id(self) -> str: ...

    def set_typing(self, typing: bool, *, timeout: float | None = ...) -> None: ...


#: The space itself, handed back by the ``with`` block (this module never imports Space).
Space = TypeVar("Space", bound=Typing)


def _keep_typing(space: Typing, stop: threading.Event, refresh: float,
                 timeout: float | None) -> None:
    wait = min(timeout or _REFRESH_CALL_CAP, refresh, _REFRESH_CALL_CAP)
    while not stop.wait(refresh):
        try:
            space.set_typing(True, timeout=wait)
        except Exception:
            log.debug("could not refresh the typing indicator in %s", space.id, exc_info=True)


@contextlib.contextmanager
def responding(space: Space, refresh: float, timeout: float | None) -> Iterator[Space]:
    """See :meth:`Space.responding`."""
    space.set_typing(True, timeout=timeout)
    stop = threading.Event()
    refresher = background_thread(_keep_typing, "spectrum-responding", space, stop, refresh,
                                  timeout)
    try:
        yield space
    finally:
        stop.set()
        if refresher is not None:
            refresher.join()
        try:
            space.set_typing(False, timeout=timeout)
        except Exception:
            # The block's work is done (or its own exception is on its way): a lingering
            # indicator is not worth failing it for; it fades on its own.
            log.warning("could not turn the typing indicator off in %s", space.id,
                        exc_info=True)
