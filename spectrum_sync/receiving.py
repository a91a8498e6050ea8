"""The receive half of :class:`~spectrum_sync.client.Client` (mixed into it).

``client.messages()`` / ``client.events()`` are blocking generators across every line;
``@client.on_message`` / ``@client.on_event(kind)`` with ``client.run_forever()`` or
``client.start()`` are the callback style. See :mod:`spectrum_sync.inbox` for the commit point
and :mod:`spectrum_sync.receive` for resuming without gaps.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, TypeVar, cast

if TYPE_CHECKING:  # the receive machinery is imported on first use, not with the client
    from spectrum_sync.auth import CloudAuth
    from spectrum_sync.backend import CloudBackend
    from spectrum_sync.events import Event
    from spectrum_sync.inbox import ErrorHandler, Handle, Inbox
    from spectrum_sync.lines import LineSet
    from spectrum_sync.models import Message, Space
    from spectrum_sync.receive import LineHealth, ReceiveOptions
    from spectrum_sync.state import StateStore

H = TypeVar("H", bound=Callable[..., object])


class ReceiveMixin:
    """Receiving for a client; the client provides the attributes declared below."""

    _backend: CloudBackend
    _lines: LineSet
    _auth: CloudAuth | None
    state: StateStore
    timeout: float
    _receive_options: ReceiveOptions | None
    _inbox_instance: Inbox | None = None

    def _inbox(self) -> Inbox:
        inbox = self._inbox_instance
        if inbox is None:
            from spectrum_sync.inbox import Inbox
            from spectrum_sync.receive import ReceiveOptions

            inbox = self._inbox_instance = Inbox(
                self._backend, self._lines, self._auth, self.state,
                self._receive_options or ReceiveOptions(), self.timeout,
            )
        return inbox

    def messages(
        self, *, space: Space | str | None = None, phone: str | None = None,
        include_own: bool = False,
    ) -> Iterator[Message]:
        """Received messages across all lines, as they arrive (blocks between them).

        Filters: ``space`` (a Space or chat guid), ``phone`` (a line), ``include_own`` (our
        own sends, echoed by the server, are hidden unless True). The loop resumes where it
        left off when the client has a persistent ``state``; leaving it (``break``) counts as
        done with the last message; Ctrl-C stops it within about a second.
        """
        from spectrum_sync.inbox import Filter

        wanted = Filter(("message",), space, phone, include_own)
        return cast("Iterator[Message]", self._inbox().events(wanted))

    def events(
        self, kinds: Collection[str] | None = None, *, space: Space | str | None = None,
        phone: str | None = None, include_own: bool = False,
    ) -> Iterator[Event]:
        """Every event kind (or only ``kinds``, see :data:`spectrum_sync.events.EVENT_KINDS`):
        messages, reactions, edits, unsends, read receipts, stickers, group and poll changes."""
        from spectrum_sync.inbox import Filter

        return self._inbox().events(Filter(kinds, space, phone, include_own))

    def on_message(self, handler: H) -> H:
        """Decorator: call ``handler(message)`` for each received message."""
        return self._inbox().on(("message",), handler)

    def on_event(self, *kinds: str) -> Callable[[H], H]:
        """Decorator: call the handler for events of ``kinds`` (all kinds when none given)."""
        chosen = kinds or ("*",)

        def register(handler: H) -> H:
            if chosen == ("*",):
                return self._inbox().on_all(handler)
            return self._inbox().on(chosen, handler)

        return register

    def run_forever(
        self, *, workers: int = 1, include_own: bool = False,
        on_error: ErrorHandler | None = None,
    ) -> None:
        """Dispatch events to the handlers until SIGINT/SIGTERM (or ``close()``).

        ``workers > 1`` runs handlers in a pool, keeping the order within each space;
        ``on_error(exc, event)`` receives handler exceptions (default: logged)."""
        self._inbox().run_forever(workers=workers, include_own=include_own, on_error=on_error)

    def start(
        self, *, workers: int = 1, include_own: bool = False,
        on_error: ErrorHandler | None = None,
    ) -> Handle:
        """Like :meth:`run_forever` in a background thread; returns a handle with ``stop()``."""
        return self._inbox().start(workers=workers, include_own=include_own, on_error=on_error)

    def health(self) -> dict[str, LineHealth]:
        """Receive health per line (by phone): state, last frame, reconnects, gaps."""
        return self._inbox().health()

    def receive_queue_depths(self) -> list[int]:
        """Diagnostics: events waiting in each active receive queue (bounded by queue_size)."""
        return self._inbox().queue_depths()

    def _close_receiving(self, timeout: float) -> None:
        inbox = self._inbox_instance
        if inbox is not None:
            inbox.close(timeout)

    def _receiving_after_fork(self) -> None:
        # Reader threads do not survive a fork; the child starts afresh on first use.
        self._inbox_instance = None


__all__ = ["ReceiveMixin"]
