"""Receiving in local mode: one reader of Messages' chat.db behind the same receive engine
(cursors, commit points, dedupe, health) as the cloud streams.

The cursor is the message ROWID (``AUTOINCREMENT``: it only grows), stored under
``local:<chat.db path>/messages``. A new client starts live, at the highest ROWID; a stored
cursor resumes where the last run stopped. The reader waits for a change with ``PRAGMA
data_version`` (cheap polling), reads ``ROWID > cursor`` in batches, and hands out each row
with its ROWID as the sequence. A locked database is retried; other failures back off.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from .._backoff import jittered
from .._local.chatdb import ChatDB, LocalEvent
from .._local.convert import decode_local
from .._local.errors import LocalError
from .engine import InFlight
from .health import LineHealth
from .ledger import Fence, Ledger, cursor_key

if TYPE_CHECKING:
    from .engine import Decoder, ReceiveEngine

__all__ = ["ChatDBFeed", "ChatDBReader"]

log = logging.getLogger("spectrum_sync.local")

SOURCE = "local"
BATCH = 200


class ChatDBReader:
    """Reads new chat.db rows until stopped (a receive engine reader)."""

    def __init__(self, engine: ReceiveEngine, db: ChatDB, ledger: Ledger,
                 health: LineHealth, history: bool) -> None:
        self.engine = engine
        self.db = db
        self.ledger = ledger
        self.health = health
        self.history = history
        self.phone = ""
        self.family_name = "messages"
        self.decode: Decoder = decode_local
        self.stopped = threading.Event()
        self.in_flight = InFlight()
        self.covered: int | None = None
        self.last_frame = time.monotonic()
        self.last_seen: float | None = None
        self.thread = threading.Thread(target=self._run, name="spectrum-recv-local",
                                       daemon=True)

    def _state(self, state: str) -> None:
        self.health.streams[self.family_name] = state

    def _run(self) -> None:
        self._state("starting")
        failures = 0
        while not self.stopped.is_set():
            try:
                if self.covered is None:
                    self._start()
                    self._state("live")
                if not self._read_batch():
                    self.db.wait_for_change(timeout=1.0, stop_event=self.stopped)
                if failures:  # recovered
                    failures = self.health.consecutive_failures = 0
                    self._state("live")
            except (LocalError, OSError) as exc:
                failures += 1
                self.health.last_error = type(exc).__name__
                self.health.consecutive_failures = failures
                self._state("backoff")
                log.warning("local: reading chat.db failed (%s); retrying", exc)
                self.stopped.wait(jittered(failures - 1, 0.5, 30.0, floor=0.5))
            except Exception:  # a bug must not end receiving silently
                failures += 1
                log.exception("local: the chat.db reader failed")
                self.stopped.wait(jittered(failures - 1, 0.5, 30.0, floor=0.5))
        self._state("stopped")

    def _start(self) -> None:
        """Where to start: the stored cursor, else the current end (live) or the beginning
        (``history=True``)."""
        cursor = self.engine.load_cursor(self.ledger)
        if cursor is None:
            cursor = 0 if self.history else self.db.head()
            self.ledger.issue(cursor)()  # remember it, so a restart resumes from here
        self.covered = cursor

    def _read_batch(self) -> bool:
        assert self.covered is not None
        events = self.db.read_after(self.covered, BATCH)
        if not events:
            return False
        self.last_frame = self.last_seen = time.monotonic()
        for event in events:
            if self.stopped.is_set():
                break
            self._hand_out(event)
        return True

    def _hand_out(self, event: LocalEvent) -> None:
        self.covered = event.rowid
        ack = self.ledger.issue(event.rowid)
        if event.kind == "other" or (event.kind != "message" and not event.reaction_target_guid):
            ack()  # group changes, system rows, tapbacks on nothing: no event of this version
            return
        if not event.chat_guid:
            # The chat join never came (a deleted chat): a direct chat with the sender.
            event = dataclasses.replace(event, chat_guid=f"any;-;{event.handle or event.sender}")
        self.engine.put(self, event.rowid, event, ack)

    def stall_check(self, now: float) -> None:
        pass  # polling: there is no connection to stall

    def stop(self) -> None:
        self.stopped.set()


class ChatDBFeed:
    """The one source of a local client: its chat.db, through a connection of its own
    (opened by ``open_db``, closed once the last cursor is written)."""

    def __init__(self, open_db: Callable[[], ChatDB]) -> None:
        self._open_db = open_db
        self._db: ChatDB | None = None
        #: One process reads its own chat.db: nothing fences its commits.
        self.fence: Fence | None = None

    def start(self, engine: ReceiveEngine) -> None:
        db = self._db = self._open_db()
        health = engine.health_for(SOURCE, "")
        ledger = engine.ledger(cursor_key(f"local:{db.path}", "messages"), SOURCE)
        engine.add_readers(SOURCE, [ChatDBReader(engine, db, ledger, health,
                                                 engine.options.history)])

    def stop(self) -> None:
        pass  # one fixed source: nothing to follow

    def finish(self) -> None:
        if self._db is not None:
            self._db.close()

    def holder_of(self, key: str) -> Any:
        return None
