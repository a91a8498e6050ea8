"""Request bodies read with a bound: never more than the limit + 1 byte, chunked or not.

Every entry point that takes a body from outside (the Flask and Django webhook views, the
emulator's HTTP server, ``spectrum-sync webhook verify`` on stdin) reads through
:func:`read_limited`, so a body larger than the limit costs at most the limit in memory, however
it is framed: a ``Content-Length`` that lies, or ``Transfer-Encoding: chunked`` with no length at
all. :func:`read_chunked` decodes a chunked body from a raw socket stream with the same bound,
for servers that do not decode it themselves.
"""

from __future__ import annotations

from typing import Callable, Protocol

__all__ = ["BodyTooLarge", "read_chunked", "read_limited"]

#: How much one read asks for: the memory in flight beyond the body kept so far.
READ_SIZE = 64 * 1024
#: A chunk-size line (hex size, extensions) or a trailer line longer than this is refused.
_MAX_LINE = 4096


class LineReader(Protocol):
    """A buffered binary stream: ``read`` and ``readline`` with a size."""

    def read(self, size: int, /) -> bytes: ...

    def readline(self, size: int, /) -> bytes: ...


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


def read_chunked(stream: LineReader, limit: int) -> bytes:
    """A ``Transfer-Encoding: chunked`` body from a raw HTTP stream, its trailers skipped:
    :class:`BodyTooLarge` once the chunks pass ``limit`` bytes (at most ``limit + 1`` body bytes
    read), ``ValueError`` for a malformed encoding or a connection that ends early."""
    parts: list[bytes] = []
    size = 0
    while True:
        line = _line(stream)
        try:
            length = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ValueError("malformed chunk size") from None
        if length < 0:
            raise ValueError("malformed chunk size")
        if length == 0:
            break
        # Never more than one byte past the limit, whatever size the chunk claims.
        take = min(length, limit + 1 - size)
        while take > 0:
            data = stream.read(min(READ_SIZE, take))
            if not data:
                raise ValueError("the body ended inside a chunk")
            parts.append(data)
            size += len(data)
            take -= len(data)
        if size > limit:
            raise BodyTooLarge(limit)
        if _line(stream) != b"":
            raise ValueError("a chunk is longer than its size")
    while _line(stream):  # trailers, up to the blank line
        pass
    return b"".join(parts)


def _line(stream: LineReader) -> bytes:
    line = stream.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise ValueError("a chunked-encoding line is too long")
    if not line.endswith(b"\n"):
        raise ValueError("the body ended inside the chunked encoding")
    return line.rstrip(b"\r\n")
