"""The plain text of an ``NSAttributedString`` archived in ``message.attributedBody``.

Since macOS Ventura, Messages often leaves ``message.text`` NULL and keeps the text only in
``attributedBody``: an ``NSAttributedString`` serialized by ``NSArchiver`` in NeXT's legacy
*typedstream* format. This module reads just enough of that format to get the string out.

The format, as far as we need it:

* header: a version byte (4), the length-prefixed signature ``streamtyped`` and the system
  version as an integer (1000);
* integers: one signed byte, or ``0x81`` + 2 bytes / ``0x82`` + 4 bytes little-endian. Bytes
  ``0x80``-``0x91`` are tags: ``0x84`` a new entry follows, ``0x85`` nil, ``0x86`` end of an
  object. A reference to an earlier entry is the integer ``index - 110`` (so index 0 is the
  byte ``0x92``, which is why ``0x92`` and up read as back-references);
* every value is preceded by its Objective-C type encoding (``@`` object, ``+`` byte string,
  ``i``/``I`` ints...), written as a *shared string*: new (``0x84`` + length + bytes) the first
  time, a reference afterwards. Class names are shared strings too;
* an object is ``0x84``, its class chain (each class new with name and version, ending in nil,
  or a reference to a class seen before), its contents, ``0x86``.

An attributed string's first content is its string object (``NSString`` or
``NSMutableString``), whose content is one ``+`` value: the UTF-8 bytes with a length prefix.
:func:`decode_attributed_body` follows that path and never raises: anything it cannot read
gives ``None``. :func:`encode_attributed_body` writes such an archive the way macOS does (with
the usual message-part attribute), for test fixtures.
"""

from __future__ import annotations

import struct

__all__ = ["decode_attributed_body", "encode_attributed_body"]

_SIGNATURE = b"streamtyped"
_SYSTEM_VERSION = 1000

_TAG_INT16 = 0x81
_TAG_INT32 = 0x82
_TAG_NEW = 0x84
_TAG_NIL = 0x85
_TAG_END = 0x86
_FIRST_TAG = 0x80
_LAST_TAG = 0x91
# A reference is written as the integer (index - _REFERENCE_BIAS): index 0 is the byte 0x92.
_REFERENCE_BIAS = 110
# Class chains are short (NSMutableString -> NSString -> NSObject); a longer one is garbage.
_MAX_CHAIN = 16


class _Malformed(Exception):
    """The blob does not follow the structure we expect."""


class _Class:
    """A class entry in the reference table; ``chain`` is its name and its superclasses'."""

    __slots__ = ("chain",)

    def __init__(self) -> None:
        self.chain: list[bytes] = []


class _Object:
    """An object entry in the reference table (we only need to know it exists)."""

    __slots__ = ()


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.strings: list[bytes] = []
        # Objects and classes share one reference table, numbered in order of appearance.
        self.entries: list[_Class | _Object] = []

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _Malformed("truncated")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, count: int) -> bytes:
        end = self.pos + count
        if count < 0 or end > len(self.data):
            raise _Malformed("truncated")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def integer(self, first: int | None = None) -> int:
        tag = self.byte() if first is None else first
        if tag == _TAG_INT16:
            return int(struct.unpack("<h", self.take(2))[0])
        if tag == _TAG_INT32:
            return int(struct.unpack("<i", self.take(4))[0])
        if _FIRST_TAG <= tag <= _LAST_TAG:
            raise _Malformed(f"tag 0x{tag:02x} where an integer was expected")
        return tag - 256 if tag > 0x7F else tag

    def length(self) -> int:
        # Lengths are never negative, so the 2- and 4-byte forms are read unsigned: that also
        # accepts writers that use 0x81 for lengths up to 65535 (macOS itself switches to the
        # 4-byte form above 32767).
        tag = self.byte()
        if tag == _TAG_INT16:
            return int(struct.unpack("<H", self.take(2))[0])
        if tag == _TAG_INT32:
            return int(struct.unpack("<I", self.take(4))[0])
        if tag > 0x7F:
            raise _Malformed(f"byte 0x{tag:02x} where a length was expected")
        return tag

    def reference(self, first: int) -> int:
        index = self.integer(first) + _REFERENCE_BIAS
        if index < 0:
            raise _Malformed("negative reference")
        return index

    def shared_string(self) -> bytes:
        tag = self.byte()
        if tag == _TAG_NEW:
            value = self.take(self.length())
            self.strings.append(value)
            return value
        if tag in (_TAG_NIL, _TAG_END):
            raise _Malformed("missing shared string")
        index = self.reference(tag)
        if index >= len(self.strings):
            raise _Malformed("dangling string reference")
        return self.strings[index]

    def new_object(self) -> list[bytes]:
        """Read an object header (``@`` value); return its class chain, names first to last.

        Only new objects are accepted: the strings we look for are always written in full.
        """
        if self.byte() != _TAG_NEW:
            raise _Malformed("expected a new object")
        self.entries.append(_Object())
        created: list[_Class] = []
        names: list[bytes] = []
        for _ in range(_MAX_CHAIN):
            tag = self.byte()
            if tag == _TAG_NIL:
                break
            if tag == _TAG_NEW:
                cls = _Class()
                self.entries.append(cls)
                created.append(cls)
                names.append(self.shared_string())
                self.integer()  # the class version
                continue
            index = self.reference(tag)
            entry = self.entries[index] if index < len(self.entries) else None
            # An unresolvable superclass reference does not stop us: only the first class
            # names of the chain matter, and those were new.
            if isinstance(entry, _Class):
                names.extend(entry.chain)
            break
        else:
            raise _Malformed("class chain too long")
        for offset, cls in enumerate(created):
            cls.chain = names[offset:]
        return names


def _is_string_class(names: list[bytes]) -> bool:
    return any(name.endswith(b"String") for name in names)


def _decode(data: bytes) -> str | None:
    reader = _Reader(data)
    version = reader.byte()
    if version not in (3, 4) or reader.take(reader.length()) != _SIGNATURE:
        return None
    reader.integer()  # the system version
    if reader.shared_string() != b"@":
        return None
    outer = reader.new_object()
    if not _is_string_class(outer):
        return None
    if not any(name.endswith(b"AttributedString") for name in outer):
        # A bare NSString archive: its own content is the text.
        inner = outer
    else:
        if reader.shared_string() != b"@":
            return None
        inner = reader.new_object()
        if not _is_string_class(inner):
            return None
    if reader.shared_string() != b"+":
        return None
    return reader.take(reader.length()).decode("utf-8")


def _scan(data: bytes) -> str | None:
    """Fallback for archives whose layout surprises the parser.

    Finds the first string class name followed by a new ``+`` type and reads the bytes after
    it: the pattern every NSString archive contains.
    """
    start = max(data.find(b"NSString"), data.find(b"NSMutableString"))
    if start < 0:
        return None
    marker = data.find(b"\x84\x01+", start)
    if marker < 0:
        return None
    reader = _Reader(data)
    reader.pos = marker + 3
    return reader.take(reader.length()).decode("utf-8")


def decode_attributed_body(blob: bytes | bytearray | memoryview | None) -> str | None:
    """Return the plain text archived in ``blob``, or ``None`` when it cannot be decoded."""
    if not blob:
        return None
    try:
        data = bytes(blob)
    except (TypeError, ValueError):
        return None
    # Whatever is wrong with a blob (truncation, garbage, invalid UTF-8), the caller gets None:
    # one odd row in someone's chat.db must not stop their message stream.
    try:
        text = _decode(data)
    except Exception:
        text = None
    if text is not None:
        return text
    try:
        return _scan(data)
    except Exception:
        return None


class _Writer:
    """Writes typedstream the way NSArchiver does, with shared strings and references."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.strings: dict[bytes, int] = {}
        self.classes: dict[bytes, int] = {}
        self.entries = 0

    def integer(self, value: int) -> None:
        if -_REFERENCE_BIAS <= value <= 0x7F:
            self.out.append(value & 0xFF)
        elif -0x8000 <= value <= 0x7FFF:
            self.out.append(_TAG_INT16)
            self.out += struct.pack("<h", value)
        else:
            self.out.append(_TAG_INT32)
            self.out += struct.pack("<i", value)

    def reference(self, index: int) -> None:
        self.integer(index - _REFERENCE_BIAS)

    def raw(self, data: bytes) -> None:
        self.integer(len(data))
        self.out += data

    def shared_string(self, value: bytes) -> None:
        if value in self.strings:
            self.reference(self.strings[value])
            return
        self.out.append(_TAG_NEW)
        self.raw(value)
        self.strings[value] = len(self.strings)

    def begin_object(self, chain: list[tuple[bytes, int]]) -> None:
        """Start an object of the first class in ``chain`` (name, version), superclasses after."""
        self.out.append(_TAG_NEW)
        self.entries += 1
        for name, version in chain:
            if name in self.classes:
                self.reference(self.classes[name])
                return
            self.out.append(_TAG_NEW)
            self.shared_string(name)
            self.integer(version)
            self.classes[name] = self.entries
            self.entries += 1
        self.out.append(_TAG_NIL)

    def end_object(self) -> None:
        self.out.append(_TAG_END)

    def string_object(self, text: bytes, chain: list[tuple[bytes, int]]) -> None:
        self.shared_string(b"@")
        self.begin_object(chain)
        self.shared_string(b"+")
        self.raw(text)
        self.end_object()


_NSOBJECT = (b"NSObject", 0)
_NSSTRING = [(b"NSString", 1), _NSOBJECT]
_NSMUTABLESTRING = [(b"NSMutableString", 1), *_NSSTRING]


def encode_attributed_body(text: str, *, mutable: bool = False) -> bytes:
    """Archive ``text`` as Messages does: an ``NSAttributedString`` with one attribute run.

    ``mutable`` stores the text as an ``NSMutableString`` (seen in real databases too). The run
    carries ``__kIMMessagePartAttributeName = 0``, as on a plain one-part message.
    """
    utf8 = text.encode("utf-8")
    writer = _Writer()
    writer.out += bytes([4, len(_SIGNATURE)]) + _SIGNATURE
    writer.integer(_SYSTEM_VERSION)
    writer.shared_string(b"@")
    writer.begin_object([(b"NSAttributedString", 0), _NSOBJECT])
    writer.string_object(utf8, _NSMUTABLESTRING if mutable else _NSSTRING)
    # The attribute run: (index of its attribute dictionary, length in UTF-16 code units).
    writer.shared_string(b"iI")
    writer.integer(1)
    writer.integer(len(text.encode("utf-16-le")) // 2)
    writer.shared_string(b"@")
    writer.begin_object([(b"NSDictionary", 0), _NSOBJECT])
    writer.shared_string(b"i")
    writer.integer(1)  # one key/value pair
    writer.string_object(b"__kIMMessagePartAttributeName", _NSSTRING)
    writer.shared_string(b"@")
    writer.begin_object([(b"NSNumber", 0), (b"NSValue", 0), _NSOBJECT])
    writer.shared_string(b"*")
    writer.shared_string(b"i")  # the number's own type, as a C string
    writer.shared_string(b"i")
    writer.integer(0)
    writer.end_object()
    writer.end_object()  # the dictionary
    writer.end_object()  # the attributed string
    return bytes(writer.out)
