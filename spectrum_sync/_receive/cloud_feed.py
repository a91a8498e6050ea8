"""The cloud feed: a :class:`~.reader.StreamReader` per line and event family, following
the line set (lines appear and vanish at token refresh: auto-scale), with the token hooks
the readers need (a stream refused with UNAUTHENTICATED, repeated failures)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .._transport.invoker import Invoker
from .._transport.lines import LineConnection, LineSet
from .options import GROUPS, family
from .reader import StreamReader

if TYPE_CHECKING:
    from .engine import ReceiveEngine

__all__ = ["CloudFeed", "cursor_key"]


def cursor_key(line_key: str, family_name: str) -> str:
    """Cursors are kept per line instance and family: the families share one sequence but
    arrive on separate streams, so one cursor per line could skip an event still in flight
    on a sibling stream."""
    return f"{line_key}/{family_name}"


class CloudFeed:
    """Streams of every line of a :class:`LineSet`, opened through an :class:`Invoker`."""

    def __init__(self, lines: LineSet, invoker: Invoker) -> None:
        self.lines = lines
        self.invoker = invoker
        self._engine: ReceiveEngine | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def start(self, engine: ReceiveEngine) -> None:
        self._engine = engine
        self._unsubscribe = self.lines.add_listener(self._lines_changed)
        for line in self.lines.all():
            self.add_line(line)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _lines_changed(self, added: list[LineConnection],
                       removed: list[LineConnection]) -> None:
        # Called by a token refresh: signal, never wait (the refresh must not block on us).
        engine = self._engine
        if engine is None:
            return
        for line in removed:
            engine.remove_readers(line.key)
        for line in added:
            self.add_line(line)

    def add_line(self, line: LineConnection) -> None:
        """Read a line's families (the shared pool has no group stream)."""
        engine = self._engine
        if engine is None or engine.has_source(line.key):
            return
        health = engine.health_for(line.key, line.phone)
        readers: list[Any] = [
            StreamReader(engine, self, line, family(name),
                         engine.ledger(cursor_key(line.key, name)), health)
            for name in engine.options.families if not (name == GROUPS and line.shared)]
        engine.add_readers(line.key, readers)

    # -- used by readers ---------------------------------------------------------------

    def open_stream(self, line: LineConnection, request: Any) -> Any:
        return self.invoker.open_stream(line, request)

    def force_refresh(self) -> None:
        credentials = self.invoker.credentials
        if credentials is not None:
            credentials.force_refresh()  # rate-limited by the credentials

    def token_generation(self) -> float:
        credentials = self.invoker.credentials
        return 0.0 if credentials is None else credentials.generation

    def token_rejected(self, generation: float) -> None:
        """A stream was refused with UNAUTHENTICATED: the next opening fetches a new token."""
        credentials = self.invoker.credentials
        if credentials is not None:
            credentials.reject(generation)
