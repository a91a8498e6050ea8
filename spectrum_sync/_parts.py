"""The pieces of a multipart message: text (optionally formatted), mentions and files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from ._attachments import file_source
from ._errors import ValidationError
from ._records import field_methods
from ._validate import check_text
from ._values import TextFormat, User, check_formatting

__all__ = ["Part", "resolve_parts"]

TEXT, MENTION, FILE = "text", "mention", "file"
MAX_PARTS = 100


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Part:
    """One piece of :meth:`Space.send_parts`: make it with :meth:`text`, :meth:`mention` or
    :meth:`file`. (A plain ``str`` in the list is a text part; a ``pathlib.Path``, bytes or
    a binary file object is a file part.)"""

    kind: str
    value: Any = attrs.field(repr=False)  # the text, or the file as given
    address: str | None = None
    formatting: tuple[TextFormat, ...] = ()
    name: str | None = None
    mime: str | None = None

    @classmethod
    def text(cls, text: str, *, formatting: Iterable[TextFormat] = ()) -> Part:
        """A text bubble; ``formatting`` ranges count from the start of this text."""
        checked = check_text("text", text)
        return cls(kind=TEXT, value=checked,
                   formatting=check_formatting(checked, formatting))

    @classmethod
    def mention(cls, address: Any, text: str | None = None) -> Part:
        """A mention of ``address`` (a User or an address) shown as ``text`` (e.g.
        ``"@Alice"``; default: the address itself)."""

        raw = address.address if isinstance(address, User) else address
        if not isinstance(raw, str) or not raw:
            raise ValidationError(f"a mention needs a User or an address, not {address!r}")
        return cls(kind=MENTION, value=check_text("mention text", text or raw), address=raw)

    @classmethod
    def file(cls, file: Any, *, name: str | None = None, mime: str | None = None) -> Part:
        """A file: a path (``str`` or ``pathlib.Path``), bytes or a binary file object;
        ``name``/``mime`` as in :meth:`Space.send_file`."""
        return cls(kind=FILE, value=file, name=name, mime=mime)


def resolve_parts(parts: object, normalize: Any) -> list[Part]:
    """The parts of a multipart message, validated before anything is uploaded: strings
    become text parts, other values file parts; files are opened and measured
    (:func:`~._attachments.file_source`), mention addresses normalised by ``normalize``."""
    if isinstance(parts, (str, bytes, Part)) or not isinstance(parts, Sequence):
        raise ValidationError("send_parts takes a list of parts (strings, files or Part "
                              "values)")
    if not parts:
        raise ValidationError("send_parts needs at least one part")
    if len(parts) > MAX_PARTS:
        raise ValidationError(f"a message has at most {MAX_PARTS} parts")
    out: list[Part] = []
    for index, part in enumerate(parts):
        if isinstance(part, str):
            part = Part.text(part)
        elif not isinstance(part, Part):
            part = Part.file(part)
        if part.kind == FILE:
            source = file_source(part.value, name=part.name, mime=part.mime,
                                 what=f"part {index}")
            part = attrs.evolve(part, value=source)
        elif part.kind == MENTION:
            part = attrs.evolve(part, address=normalize(part.address))
        out.append(part)
    return out
