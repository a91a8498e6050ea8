"""Plain values every message may carry: users, text formats, mentions, icons, and
``Received`` (what every event has).

This module sits at the bottom of the public types (docs/architecture.md, "Layers"): it
imports only the leaves below it, so the handles (``Space``, ``Message``...), the backends,
the wire converters and the local Mac code can all use these values without import cycles.
The values of the rarer features (locations, Focus, line descriptions, polls, stickers,
embedded media) are in ``_feature_values.py``, beside this one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable, ClassVar, Union

import attrs

from ._effects import TEXT_EFFECTS
from ._errors import ValidationError
from ._records import field_methods
from ._validate import check_range, utf16_length

__all__ = [
    "Icon",
    "Mention",
    "Receipt",
    "Received",
    "TextFormat",
    "User",
    "UserLike",
    "check_formatting",
]


Receipt = Callable[[], None]


@field_methods
@attrs.frozen(repr=False, eq=False)
class User:
    """A handle: ``address`` (E.164 or lower-case e-mail), ``country`` (ISO alpha-2 or None),
    ``service`` ("iMessage", "SMS", "RCS" or "unknown")."""

    address: str
    country: str | None = None
    service: str = "unknown"


_STYLES = ("bold", "italic", "underline", "strikethrough")
_FORMAT_TYPES = (*_STYLES, "effect")


def _format_type(instance: Any, attribute: Any, value: Any) -> None:
    if value not in _FORMAT_TYPES:
        raise ValidationError(
            f"text format type must be one of {', '.join(_FORMAT_TYPES)}, not {value!r}")


def _offset(instance: Any, attribute: Any, value: Any) -> None:
    bottom = 1 if attribute.name == "length" else 0
    if not isinstance(value, int) or isinstance(value, bool) or not bottom <= value < 2**31:
        raise ValidationError(f"text format {attribute.name} must be an integer >= {bottom}, "
                              f"not {value!r}")


def _text_effect(instance: Any, attribute: Any, value: Any) -> None:

    if instance.type == "effect":
        if value not in TEXT_EFFECTS:
            raise ValidationError(
                f"a text effect must be one of {', '.join(TEXT_EFFECTS)}, not {value!r}")
    elif value is not None:
        raise ValidationError(f"effect= goes with type 'effect', not {instance.type!r}")


@field_methods
@attrs.frozen(repr=False, eq=False)
class TextFormat:
    """A styled range of a text: ``type`` is bold, italic, underline or strikethrough (or
    ``"effect"``, an animation named by ``effect``: big, small, shake, nod, explode, ripple,
    bloom, jitter). ``start`` and ``length`` count UTF-16 code units, as on the wire: the
    same as string indices unless the text holds emoji or other characters beyond U+FFFF
    (:meth:`find` computes them for you)."""

    type: str = attrs.field(validator=_format_type)
    start: int = attrs.field(validator=_offset)
    length: int = attrs.field(validator=_offset)
    effect: str | None = attrs.field(default=None, validator=_text_effect)

    @classmethod
    def bold(cls, start: int, length: int) -> TextFormat:
        """Bold over ``length`` UTF-16 code units from ``start``.

        Raises :class:`ValidationError` for a negative start or a length below 1."""
        return cls("bold", start, length)

    @classmethod
    def italic(cls, start: int, length: int) -> TextFormat:
        """Italic over ``length`` UTF-16 code units from ``start``.

        Raises :class:`ValidationError` for a negative start or a length below 1."""
        return cls("italic", start, length)

    @classmethod
    def underline(cls, start: int, length: int) -> TextFormat:
        """Underline over ``length`` UTF-16 code units from ``start``.

        Raises :class:`ValidationError` for a negative start or a length below 1."""
        return cls("underline", start, length)

    @classmethod
    def strikethrough(cls, start: int, length: int) -> TextFormat:
        """Strikethrough over ``length`` UTF-16 code units from ``start``.

        Raises :class:`ValidationError` for a negative start or a length below 1."""
        return cls("strikethrough", start, length)

    @classmethod
    def find(cls, text: str, part: str, type: str = "bold", *,
             effect: str | None = None) -> TextFormat:
        """The format of the first ``part`` of ``text`` (offsets in UTF-16 code units);
        :class:`ValidationError` when ``part`` is not in ``text``."""

        if not isinstance(text, str) or not isinstance(part, str) or not part:
            raise ValidationError("TextFormat.find needs a text and a non-empty part of it")
        index = text.find(part)
        if index < 0:
            raise ValidationError(f"{part!r} does not occur in the text")
        return cls(type, utf16_length(text[:index]), utf16_length(part), effect)


def check_formatting(text: str, formatting: Iterable[TextFormat] | None) -> tuple[
        TextFormat, ...]:
    """Formats of ``text``: TextFormat values whose ranges lie inside it."""
    if formatting is None:
        return ()
    if isinstance(formatting, TextFormat) or not isinstance(formatting, Iterable):
        raise ValidationError("formatting takes a list of TextFormat values")
    out = tuple(formatting)
    for item in out:
        if not isinstance(item, TextFormat):
            raise ValidationError(
                f"formatting takes TextFormat values, not {type(item).__name__}")
        check_range(f"{item.type} format", item.start, item.length, text)
    return out


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Mention:
    """A mention in a received text: ``address`` shown by the range ``start``/``length``
    (UTF-16 code units)."""

    address: str
    start: int
    length: int


class Icon(bytes):
    """A group's photo: its bytes (an ``Icon`` is a ``bytes``), with ``mime_type`` as the
    service gave it (``"image/png"``; ``""`` when unknown)."""

    mime_type: str

    def __new__(cls, data: bytes, mime_type: str = "") -> Icon:
        icon = super().__new__(cls, data)
        icon.mime_type = mime_type
        return icon

    def __repr__(self) -> str:
        return f"Icon({len(self)} bytes, mime_type={self.mime_type!r})"


UserLike = Union[User, str]


def _noop() -> None:
    pass


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Received:
    """What every event has: ``sequence`` and ``ack()`` (the ``kind`` is a class constant)."""

    kind: ClassVar[str] = "event"

    sequence: int = attrs.field(default=0, eq=False)
    _receipt: Receipt = attrs.field(default=_noop, eq=False, repr=False, alias="receipt")

    def ack(self) -> None:
        """Done with this event: its cursor may advance (idempotent; a no-op for objects
        that did not come from a receive loop). See docs/behaviour.md, "Commit points"."""
        self._receipt()
