"""The cloud feed: a :class:`~.reader.StreamReader` per line and event family, following
the line set (lines appear and vanish at token refresh: auto-scale), with the token hooks
the readers need (a stream refused with UNAUTHENTICATED, repeated failures) and the
catch-up rounds they share (``heads.py``)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Callable

from .._state.base import StateStore
from .._state.leases import LeaseStore
from .._transport.invoker import Invoker
from .._transport.lines import LineConnection, LineSet
from .heads import CatchUpRounds
from .leases import LeaseChanges, LineLeases, Tenure
from .ledger import Fence, cursor_key
from .options import GROUPS, family
from .reader import StreamReader

if TYPE_CHECKING:
    from .engine import ReceiveEngine

__all__ = ["CloudFeed"]

log = logging.getLogger("spectrum_sync.receive")


class CloudFeed:
    """Streams of every line of a :class:`LineSet`, opened through an :class:`Invoker`.

    With a store that coordinates processes (Redis), the lines are shared with the other
    receiving processes under leases (``leases.py``): this feed reads only those it holds."""

    def __init__(self, lines: LineSet, invoker: Invoker, store: StateStore,
                 lease_ttl: float) -> None:
        self.lines = lines
        self.invoker = invoker
        self.leases = (LineLeases(store, lease_ttl)
                       if isinstance(store, LeaseStore) else None)
        self._lease_thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._engine: ReceiveEngine | None = None
        self._unsubscribe: Callable[[], None] | None = None
        #: Catch-ups shared by a line's families, at most 16 in flight for this client.
        self.rounds: CatchUpRounds[Any] = CatchUpRounds()

    def start(self, engine: ReceiveEngine) -> None:
        self._engine = engine
        self._unsubscribe = self.lines.add_listener(self._lines_changed)
        if self.leases is not None:
            # One round now, so that a new receiver reads its lines before start returns.
            self._apply(self.leases, self.leases.round(self.line_keys()))
            self._lease_thread = threading.Thread(
                target=self._lease_rounds, args=(self.leases,), name="spectrum-recv-lease",
                daemon=True)
            self._lease_thread.start()
        else:
            for line in self.lines.all():
                self.add_line(line)

    @property
    def fence(self) -> Fence | None:
        """What fences the commits of shared lines (None: the lines are not shared)."""
        return None if self.leases is None else self.leases.fence

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._stopped.set()
        thread = self._lease_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def finish(self) -> None:
        if self.leases is not None:
            self.leases.release()

    # -- lines, and leases on them --------------------------------------------------------

    def _lease_rounds(self, leases: LineLeases) -> None:
        """A lease round every third of the lease's lifetime, applied to the readers."""
        while not self._stopped.wait(leases.ttl / 3):
            try:
                # Stop reading lapsed lines before asking the store anything (it may stall).
                self._apply(leases, leases.lapse())
                self._apply(leases, leases.round(self.line_keys()))
            except Exception:  # never let the coordinator die silently
                log.exception("receive: the line lease round failed")

    def _apply(self, leases: LineLeases, changes: LeaseChanges) -> None:
        """Apply a lease round to the readers, in the order :class:`LeaseChanges` asks."""
        for key in changes.lost:
            self.drop_line(key, wait=False)
        for key in changes.given_up:
            self.drop_line(key, wait=True)  # stop, let in-flight events finish, commit
            leases.give_up(key)
        for key, tenure in changes.taken:
            self.take_line(key, tenure)

    def line_keys(self) -> list[str]:
        return [line.key for line in self.lines.all()]

    def take_line(self, key: str, tenure: Tenure) -> None:
        """This process now holds the lease of a line: read it, under ``tenure``."""
        for line in self.lines.all():
            if line.key == key:
                self.add_line(line, tenure)

    def drop_line(self, key: str, *, wait: bool) -> None:
        """Stop reading a line (its lease went elsewhere, or lapsed). With ``wait``, let the
        events of that line being handled finish and commit them first. Its position and
        unwritten commits are kept, for when this process takes the line again."""
        engine = self._engine
        if engine is not None:
            engine.remove_readers(key, settle_within=5.0 if wait else 0.0, park=True)
        self.rounds.forget(key)

    def holder_of(self, line_key: str) -> bool | None:
        """Whether this process reads a line (None when lines are not shared)."""
        return None if self.leases is None else self.leases.holds(line_key)

    def _lines_changed(self, added: list[LineConnection],
                       removed: list[LineConnection]) -> None:
        # Called by a token refresh: signal, never wait (the refresh must not block on us).
        engine = self._engine
        if engine is None:
            return
        for line in removed:
            engine.remove_readers(line.key)
            self.rounds.forget(line.key)
        if self.leases is None:
            for line in added:
                self.add_line(line)
        # Shared lines: the next lease round assigns the new ones.

    def add_line(self, line: LineConnection, tenure: Tenure | None = None) -> None:
        """Read a line's families (the shared pool has no group stream); with shared lines,
        under the lease ``tenure`` of this process."""
        engine = self._engine
        if engine is None or engine.has_source(line.key):
            return
        health = engine.health_for(line.key, line.phone)
        readers: list[Any] = [
            StreamReader(engine, self, line, family(name),
                         engine.ledger(cursor_key(line.key, name), line.key), health)
            for name in engine.options.families if not (name == GROUPS and line.shared)]
        self.rounds.expect(line.key, readers)  # before their threads start: they go together
        engine.add_readers(line.key, readers, tenure)

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

    def token_accepted(self, generation: float) -> None:
        """A subscription was taken with this token: if the server refuses it later, it
        forgot it (docs/behaviour.md, "Calls")."""
        credentials = self.invoker.credentials
        if credentials is not None:
            credentials.confirmed = generation
