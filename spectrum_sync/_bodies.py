"""Request bodies read with a bound: never more than the limit + 1 byte, chunked or not.

Every entry point of the library that takes a body from outside (the Flask and Django webhook
views, ``spectrum-sync webhook verify`` on stdin) reads through :func:`read_limited`, so a body
larger than the limit costs at most the limit in memory, however it is framed: a
``Content-Length`` that lies, or ``Transfer-Encoding: chunked`` with no length at all. (The
emulator, which imports nothing of the client's, decodes chunked bodies itself with the same
bound: ``spectrum_sync/emulator/rest.py``.)
"""

from __future__ import annotations

from typing import Callable

__all__ = ["BodyTooLarge", "read_limited"]

#: How much one read asks for: the memory in flight beyond the body kept so far.
READ_SIZE = 64 * 1024


class BodyTooLarge(Exception):
    """The body holds more than the limit (only the limit + 1 byte of it was read)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit:,} bytes")
        self.limit = limit


def read_limited(read: Callable[[int], bytes], limit: int) -> bytes:
    """The whole body from ``read(n)`` (a stream's ``read``: at most ``n`` bytes, ``b""`` at
    the end); :class:`BodyTooLarge` as soon as more than ``limit`` bytes came, having asked for
    no more than ``limit + 1`` in all."""
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = read(min(READ_SIZE, limit + 1 - size))
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        size += len(chunk)
    raise BodyTooLarge(limit)
