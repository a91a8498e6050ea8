"""Files going out and coming in: validated upload sources and streamed downloads.

:func:`file_source` turns what a user passes (a path, bytes, a binary file object) into a
:class:`FileSource`: its name, its size (checked against the 100 MiB limit before anything is
uploaded) and a way to read it straight into the upload buffer. :func:`save` streams a
download into a path (through a temporary file in the same folder, renamed when complete) or
into a binary file object, one chunk at a time. Every file system failure becomes a
:class:`ValidationError` or :class:`SpectrumError` naming the file: never a raw ``OSError``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
from typing import Any, BinaryIO, Callable, Union

from ._errors import SpectrumError, ValidationError
from ._validate import MAX_PAYLOAD_BYTES

__all__ = ["FileInput", "FileSource", "Folder", "Target", "file_source", "safe_file_name", "save"]

#: What ``send_file``, ``Part.file`` and ``set_icon`` accept.
FileInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO]
#: Where ``download`` writes: a path or a binary file object.
Target = Union[str, "os.PathLike[str]", BinaryIO]
#: The folder of ``download(into=...)``.
Folder = Union[str, "os.PathLike[str]"]

_READ_CHUNK = 1024 * 1024
_MAX_NAME = 255
# Pattern texts, compiled on first use (re caches them): a process that sends no file
# never needs them.
_CONTROL = r"[\x00-\x1f\x7f]"
_MIME = r"^[A-Za-z0-9][\w.+-]*/[\w.+-]+$"
LIMIT_TEXT = "100 MiB (the service's limit)"


class FileSource:
    """A file to upload: ``name``, ``size`` in bytes, ``path`` (when it is a file on disk)
    and :meth:`read_into` / :meth:`read_all`. Made by :func:`file_source`."""

    __slots__ = ("_data", "_handle", "_offset", "label", "name", "path", "size")

    def __init__(self, name: str, size: int, label: str, *, path: str | None = None,
                 data: bytes | memoryview | None = None, handle: BinaryIO | None = None,
                 offset: int = 0) -> None:
        self.name = name
        self.size = size
        self.label = label  # "file '/tmp/a.png'", "bytes", "file object 'a.png'"
        self.path = path
        self._data = data
        self._handle = handle
        self._offset = offset

    def __repr__(self) -> str:
        return f"FileSource({self.label}, name={self.name!r}, size={self.size})"

    def read_into(self, view: memoryview) -> None:
        """Fill ``view`` (exactly ``size`` bytes) with the file's content."""
        if self._data is not None:
            view[:] = self._data
            return
        try:
            if self.path is not None:
                with open_regular(self.path, self.label) as handle:
                    self._fill(handle, view)
            elif self._handle is not None:
                self._handle.seek(self._offset)
                self._fill(self._handle, view)
        except (OSError, ValueError) as exc:  # ValueError: a file object closed meanwhile
            raise SpectrumError(f"cannot read {self.label}: {_reason(exc)}",
                                code="fileUnreadable") from None

    def read_all(self) -> bytes:
        """The whole content as bytes (for small payloads such as group icons)."""
        buffer = bytearray(self.size)
        with memoryview(buffer) as view:
            self.read_into(view)
        return bytes(buffer)

    def _fill(self, handle: Any, view: memoryview) -> None:
        done = 0
        reader = getattr(handle, "readinto", None)
        while done < self.size:
            if reader is not None:
                got = reader(view[done:])
            else:
                chunk = handle.read(min(_READ_CHUNK, self.size - done))
                got = len(chunk) if chunk else 0
                view[done:done + got] = chunk
            if not got:
                raise SpectrumError(
                    f"{self.label} shrank while it was read ({done} of {self.size} bytes)",
                    code="fileChanged")
            done += got
        if self.path is not None and handle.read(1):
            raise SpectrumError(f"{self.label} grew while it was read", code="fileChanged")


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _check_size(size: int, label: str) -> None:
    if size <= 0:
        raise ValidationError(f"{label} is empty: there is nothing to send")
    if size > MAX_PAYLOAD_BYTES:
        raise ValidationError(f"{label} is {size:,} bytes, larger than {LIMIT_TEXT}")


# Characters that reorder how a name is displayed ("photo\u202egnp.exe" shows as
# "photoexe.png"), with the C0 and C1 controls.
_UNSAFE = r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
#: The name of a received file whose own name has nothing usable left.
FALLBACK_NAME = "attachment"


def safe_file_name(raw: str, fallback: str = FALLBACK_NAME) -> str:
    """A received file's name as a base name safe to join to a folder: the last component
    of ``raw`` (``/`` and ``\\`` both separate), without control or bidi characters,
    leading dots and blanks (no ``..``, no hidden file) and trailing dots and blanks, at most
    255 UTF-8 bytes (the extension kept); ``fallback`` when nothing is left. The sender
    chooses ``raw``: ``../../.ssh/authorized_keys`` becomes ``authorized_keys``."""
    text = raw if isinstance(raw, str) else ""
    parts = [part for part in text.replace("\\", "/").split("/") if part.strip()]
    text = re.sub(_UNSAFE, "", parts[-1] if parts else "")
    text = text.lstrip(". \t").rstrip(". \t")
    if len(text.encode("utf-8")) > _MAX_NAME:
        stem, ext = os.path.splitext(text)
        ext = ext if len(ext.encode("utf-8")) <= 16 else ""
        room = _MAX_NAME - len(ext.encode("utf-8"))
        text = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(". \t") + ext
    return text or fallback


def _file_name(name: object, fallback: str, mime: object) -> str:
    if name is None:
        name = fallback
    elif not isinstance(name, str) or not name.strip():
        raise ValidationError(f"name must be a non-empty string or None, not {name!r}")
    text = re.sub(_CONTROL, "", os.path.basename(name.replace("\\", "/"))).strip()
    if not text:
        raise ValidationError(f"name {name!r} has no file name in it")
    if len(text) > _MAX_NAME:
        raise ValidationError(f"name is longer than {_MAX_NAME} characters")
    if mime is not None:
        if not isinstance(mime, str) or not re.match(_MIME, mime):
            raise ValidationError(f"mime must be a MIME type such as 'image/png', not {mime!r}")
        # The service infers the type from the file name: give it the extension.
        if not os.path.splitext(text)[1]:
            import mimetypes  # on first use: a process that sends no typed file never needs it

            text += mimetypes.guess_extension(mime.lower()) or ""
    return text


def file_source(value: object, *, name: object = None, mime: object = None,
                what: str = "file") -> FileSource:
    """Validate a path, bytes-like object or binary file object to upload (before any call).

    The size is known now (``os.stat``, or seek/tell on the file object); a stream that
    cannot seek is read here, up to the limit. The name defaults to the file's base name
    (``"attachment"`` for bytes); ``mime`` adds the matching extension to a name without
    one."""
    if isinstance(value, (str, os.PathLike)):
        return _path_source(value, name, mime, what)
    if isinstance(value, (bytes, bytearray, memoryview)):
        view = memoryview(value)
        data: bytes | memoryview = view.cast("B") if view.c_contiguous else view.tobytes()
        label = "bytes" if what == "file" else f"{what} bytes"
        _check_size(len(data), label)
        return FileSource(_file_name(name, "attachment", mime), len(data), label, data=data)
    if hasattr(value, "read"):
        return _stream_source(value, name, mime, what)
    raise ValidationError(
        f"{what} must be a path, bytes or a binary file object, not {type(value).__name__}")


def _path_source(value: Any, name: object, mime: object, what: str) -> FileSource:
    try:
        path = os.fsdecode(os.fspath(value))
    except (TypeError, UnicodeError) as exc:
        raise ValidationError(f"{what} path {value!r} is not usable: {exc}") from None
    label = f"{what} {path!r}"
    try:
        _check_regular(os.stat(path).st_mode, label)
        # Open it now, so that a file we may not read fails before anything is uploaded.
        with open_regular(path, label) as handle:
            info = os.fstat(handle.fileno())
    except FileNotFoundError:
        raise ValidationError(f"{label} does not exist") from None
    except OSError as exc:
        raise ValidationError(f"cannot read {label}: {_reason(exc)}") from None
    _check_size(info.st_size, label)
    return FileSource(_file_name(name, os.path.basename(path), mime), info.st_size, label,
                      path=path)


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def _check_regular(mode: int, label: str) -> None:
    """Refuse what is not a regular file: opening a FIFO without a writer blocks, and pipes,
    sockets and devices may never end, whatever the call's deadline."""
    if stat.S_ISREG(mode):
        return
    kind = next((text for test, text in _KINDS if test(mode)), "not a regular file")
    raise ValidationError(f"{label} is {kind}, not a regular file: pass its bytes or an "
                          "open binary file object instead")


def open_regular(path: str, label: str) -> BinaryIO:
    """Open a regular file for reading without ever blocking: ``O_NONBLOCK`` (a FIFO put in
    its place after a check opens at once), then the opened file itself is checked."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        _check_regular(os.fstat(fd).st_mode, label)
    except BaseException:
        os.close(fd)
        raise
    # O_NONBLOCK does nothing to a regular file's reads.
    return os.fdopen(fd, "rb")


def _stream_source(value: Any, name: object, mime: object, what: str) -> FileSource:
    if isinstance(value, io.TextIOBase):
        raise ValidationError(f"{what} is a text file object: open it in binary mode ('rb')")
    own = getattr(value, "name", None)
    fallback = os.path.basename(own) if isinstance(own, str) and own else "attachment"
    label = f"{what} object {fallback!r}" if fallback != "attachment" else f"{what} object"
    file_name = _file_name(name, fallback, mime)
    try:
        seekable = bool(value.seekable()) if hasattr(value, "seekable") else False
        if seekable:
            offset = value.tell()
            end = value.seek(0, io.SEEK_END)
            value.seek(offset)
            size = end - offset
            _check_size(size, label)
            return FileSource(file_name, size, label, handle=value, offset=offset)
        data = _read_capped(value, label)
    except (OSError, ValueError) as exc:  # ValueError: a closed file object
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"cannot read {label}: {_reason(exc)}") from None
    return FileSource(file_name, len(data), label, data=data)


def _read_capped(handle: Any, label: str) -> bytes:
    """Read a stream of unknown size, refusing it as soon as it passes the limit."""
    buffer = bytearray()
    while True:
        chunk = handle.read(_READ_CHUNK)
        if not chunk:
            break
        if not isinstance(chunk, (bytes, bytearray)):
            raise ValidationError(f"{label} returned {type(chunk).__name__}, not bytes: "
                                  "open it in binary mode ('rb')")
        buffer += chunk
        if len(buffer) > MAX_PAYLOAD_BYTES:
            raise ValidationError(f"{label} is larger than {LIMIT_TEXT}")
    _check_size(len(buffer), label)
    return bytes(buffer)


# ----- downloads -------------------------------------------------------------------------------


def check_target(to: object) -> None:
    """A path (whose folder exists, and which is no directory) or a writable binary file."""
    if isinstance(to, (str, os.PathLike)):
        path = os.fsdecode(os.fspath(to))
        if os.path.isdir(path):
            raise ValidationError(f"download target {path!r} is a directory: name a file")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ValidationError(f"download target {path!r}: folder {folder!r} does not exist")
        return
    if isinstance(to, io.TextIOBase):
        raise ValidationError("download target is a text file object: open it in binary "
                              "mode ('wb')")
    if not hasattr(to, "write"):
        raise ValidationError(
            f"to= must be a path or a binary file object, not {type(to).__name__}")


def target_in(folder: object, name: str) -> str:
    """The path of ``name`` (a :func:`safe_file_name`) inside the existing ``folder``."""
    if not isinstance(folder, (str, os.PathLike)):
        raise ValidationError(f"into= must be a folder path, not {type(folder).__name__}")
    base = os.path.abspath(os.fsdecode(os.fspath(folder)))
    if not os.path.isdir(base):
        raise ValidationError(f"download folder {base!r} does not exist (into= names a folder)")
    path = os.path.join(base, name)
    # safe_file_name has no separators and no "..": checked again, as this is the promise.
    if os.path.dirname(path) != base or name in ("", ".", ".."):
        raise ValidationError(f"file name {name!r} would leave the folder {base!r}")
    return path


def save(to: Target, run: Callable[[Callable[[bytes], object]], object]) -> int:
    """Run a download (``run(write)`` calls ``write(chunk)`` per chunk) into ``to``; returns
    the number of bytes written. A path is written through a temporary file in the same
    folder, renamed over the target once the download is complete (nothing is left behind
    on failure); a file object gets the chunks as they come."""
    if not isinstance(to, (str, os.PathLike)):
        return _into_file(to, run)
    path = os.path.abspath(os.fsdecode(os.fspath(to)))
    folder, base = os.path.split(path)
    temp, fd = _create_temp(folder, base, path)
    written = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            written = _into_file(handle, run, label=f"file {temp!r}")
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise SpectrumError(f"cannot write {path!r}: {_reason(exc)}",
                                code="fileUnwritable") from None
        raise
    return written


def _create_temp(folder: str, base: str, path: str) -> tuple[str, int]:
    for _ in range(100):
        temp = os.path.join(folder, f".{base}.{os.urandom(4).hex()}.part")  # as secrets.token_hex
        try:
            # Mode 0o666 as open() uses: the umask applies, unlike mkstemp's 0o600.
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise SpectrumError(f"cannot write into the folder of {path!r}: {_reason(exc)}",
                                code="fileUnwritable") from None
    raise SpectrumError(f"cannot create a temporary file next to {path!r}",
                        code="fileUnwritable")


def _into_file(handle: Any, run: Callable[[Callable[[bytes], object]], object],
               label: str = "the download target") -> int:
    written = 0
    write = handle.write

    def sink(chunk: bytes) -> None:
        nonlocal written
        try:
            write(chunk)
        except OSError as exc:
            raise SpectrumError(f"cannot write {label}: {_reason(exc)}",
                                code="fileUnwritable") from None
        written += len(chunk)

    run(sink)
    return written


# ----- progress of a transfer --------------------------------------------------------------

#: ``progress(bytes_done, total)``, called by ``send_file`` and ``download`` (boto3's
#: ``Callback`` gives increments; this gives the running total, which a bar needs as is).
Progress = Callable[[int, int], object]


def check_progress(progress: object) -> Progress | None:
    """None, or a callable taking (bytes_done, total)."""
    if progress is not None and not callable(progress):
        raise ValidationError(
            f"progress must be a callable (bytes_done, total) or None, not {progress!r}")
    return progress  # type: ignore[return-value]


def reporting(write: Callable[[bytes], object], progress: Progress,
              total: int) -> Callable[[bytes], None]:
    """``write`` that reports the bytes written so far after each chunk. ``total`` is the
    size the metadata announced; a file that turns out larger raises it, never 100 %+."""
    done = 0

    def sink(chunk: bytes) -> None:
        nonlocal done
        write(chunk)
        done += len(chunk)
        progress(done, max(total, done))

    return sink


def report_sent(progress: Progress, total: int) -> None:
    """The last call of an upload, made once the message is sent: an error in it is logged,
    not raised, since raising would invite a retry that sends the file twice."""
    import logging

    try:
        progress(total, total)
    except Exception:
        logging.getLogger("spectrum_sync.attachments").warning(
            "the progress callback failed after the file was sent", exc_info=True)
