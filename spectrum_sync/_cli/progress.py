"""A progress bar for long transfers, drawn on a terminal only (scripts and logs get results
and errors, as with every status line of the command line)."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from spectrum_sync._cli.common import Session

__all__ = ["MIN_BAR_BYTES", "ProgressBar", "progress_bar"]

#: Smaller files take under a second or so: a bar would only flicker.
MIN_BAR_BYTES = 4 * 1024 * 1024
_WIDTH = 30
_TICK = 0.5  # the elapsed time keeps moving while one long request is in flight


class ProgressBar:
    """``label [#######       ]  45%  5.6/12.3 MB  2.1 s`` on one line, redrawn in place.

    Call it as a ``progress(bytes_done, total)`` callback; use it as a context manager, which
    ends the line. Thread-safe: the transfer and the ticker both draw."""

    def __init__(self, stream: TextIO, label: str, total: int) -> None:
        self._stream = stream
        self._label = label
        self._done, self._total = 0, max(total, 0)
        self._start = time.monotonic()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="spectrum-progress",
                                        daemon=True)

    def __enter__(self) -> ProgressBar:
        self._draw()
        self._ticker.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._closed.set()
        self._ticker.join(2 * _TICK)
        with self._lock:
            self._stream.write("\n")
            self._stream.flush()

    def __call__(self, done: int, total: int) -> None:
        self._done, self._total = done, total
        self._draw()

    def _tick(self) -> None:
        while not self._closed.wait(_TICK):
            self._draw()

    def _draw(self) -> None:
        with self._lock:
            if self._closed.is_set() and self._done < self._total:
                return
            self._stream.write("\r" + self.render())
            self._stream.flush()

    def render(self) -> str:
        """The bar's current line (without the carriage return)."""
        total = self._total or 1
        share = min(self._done / total, 1.0)
        filled = int(share * _WIDTH)
        megabytes = f"{self._done / 1e6:.1f}/{self._total / 1e6:.1f} MB"
        elapsed = time.monotonic() - self._start
        return (f"{self._label} [{'#' * filled}{' ' * (_WIDTH - filled)}] "
                f"{share * 100:3.0f}%  {megabytes}  {elapsed:.1f} s")


def progress_bar(session: Session, label: str, size: int) -> ProgressBar | None:
    """A bar for a transfer of ``size`` bytes, when one is worth showing: stderr is a
    terminal, no ``--quiet``, and the file is at least :data:`MIN_BAR_BYTES`."""
    if session.quiet or size < MIN_BAR_BYTES or not session.err.isatty():
        return None
    return ProgressBar(session.err, f"{session.prog}: {label}", size)
