"""Contact cards: a :class:`Contact` value, to and from vCard 3.0 text.

``space.send_contact(contact)`` sends the card as a ``.vcf`` attachment (as the official
SDK does); ``message.contact()`` parses the card a received message carries
(docs/behaviour.md, "Contact cards").
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import ValidationError
from ._records import field_methods

if TYPE_CHECKING:
    from ._models import Message

__all__ = ["Contact", "contact_of", "is_vcard"]

#: MIME types a vCard attachment arrives with (any ``.vcf`` file counts too).
VCARD_TYPES = frozenset({"text/vcard", "text/x-vcard", "text/directory", "application/vcard",
                         "application/x-vcard"})
#: A card bigger than this is not a contact card (photos are left out of ours).
MAX_VCARD = 1024 * 1024


def _strings(value: Any) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValidationError(f"contact phones and emails must be non-empty strings, "
                                  f"not {item!r}")
    return tuple(item.strip() for item in items)


def _optional(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValidationError(f"contact {attribute.name} must be a non-empty string or None, "
                              f"not {value!r}")


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Contact:
    """A person's card: ``name`` (as shown), ``phones``, ``emails``, ``organization``,
    ``title`` and ``note``. It needs a name or at least one phone or e-mail."""

    name: str | None = attrs.field(default=None, validator=_optional)
    phones: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    emails: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    organization: str | None = attrs.field(default=None, validator=_optional)
    title: str | None = attrs.field(default=None, validator=_optional)
    note: str | None = attrs.field(default=None, validator=_optional)

    def __attrs_post_init__(self) -> None:
        if not (self.name or self.phones or self.emails):
            raise ValidationError("a contact needs a name, a phone or an e-mail")

    @property
    def file_name(self) -> str:
        """The card's file name: its name (or first handle) with unsafe characters
        replaced, as the official SDK names it."""
        base = self.name or (self.phones + self.emails + ("contact",))[0]
        return re.sub(r"[^a-zA-Z0-9_\-.]", "_", base) + ".vcf"

    def to_vcard(self) -> str:
        """The card as vCard 3.0 text (CRLF line ends)."""
        name = self.name or (self.phones + self.emails)[0]
        lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{_escape(name)}"]
        words = name.split()
        # N is family;given: the last word is taken as the family name.
        family, given = (words[-1], " ".join(words[:-1])) if len(words) > 1 else ("", name)
        lines.append(f"N:{_escape(family)};{_escape(given)};;;")
        lines += [f"TEL;TYPE=CELL:{_escape(p)}" for p in self.phones]
        lines += [f"EMAIL;TYPE=INTERNET:{_escape(e)}" for e in self.emails]
        for key, value in (("ORG", self.organization), ("TITLE", self.title),
                           ("NOTE", self.note)):
            if value:
                lines.append(f"{key}:{_escape(value)}")
        lines.append("END:VCARD")
        return "\r\n".join(lines) + "\r\n"

    @classmethod
    def from_vcard(cls, text: str | bytes) -> Contact:
        """The first card of a vCard (2.1, 3.0 or 4.0) text; :class:`ValidationError` when
        it holds none."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        if not isinstance(text, str) or "BEGIN:VCARD" not in text.upper():
            raise ValidationError("not a vCard: no BEGIN:VCARD")
        # Unfold continuation lines (RFC 6350 3.2) before reading properties.
        unfolded = re.sub(r"\r?\n[ \t]", "", text)
        fields: dict[str, list[str]] = {}  # raw (still escaped) values by property
        for line in unfolded.splitlines():
            head, sep, value = line.partition(":")
            if not sep:
                continue
            key = head.split(";", 1)[0].split(".")[-1].upper()
            if key == "END":
                break
            fields.setdefault(key, []).append(value.strip())

        def first(key: str) -> str | None:
            # Structured values (ORG, N) split on unescaped ";": their first component.
            raw = (fields.get(key) or [""])[0]
            return _unescape(re.split(r"(?<!\\);", raw)[0]) or None

        name = _unescape((fields.get("FN") or [""])[0]) or _name_from_n(fields.get("N"))
        phones = tuple(_unescape(p) for p in fields.get("TEL", []) if p)
        emails = tuple(_unescape(e) for e in fields.get("EMAIL", []) if e)
        try:
            return cls(name=name or None, phones=phones, emails=emails,
                       organization=first("ORG"), title=first("TITLE"), note=first("NOTE"))
        except ValidationError as exc:
            raise ValidationError(f"the vCard holds no usable contact: {exc.message}") from None


def _name_from_n(values: list[str] | None) -> str:
    """"Given Family" from a raw N value (family;given;...)."""
    if not values:
        return ""
    parts = [_unescape(p) for p in re.split(r"(?<!\\);", values[0])]
    return " ".join(p for p in (parts[1] if len(parts) > 1 else "", parts[0]) if p)


def _escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,")
            .replace(";", "\\;"))


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def is_vcard(mime_type: str | None, file_name: str | None) -> bool:
    """Whether an attachment is a contact card (by MIME type or ``.vcf`` name)."""
    if mime_type and mime_type.split(";")[0].strip().lower() in VCARD_TYPES:
        return True
    return bool(file_name and file_name.lower().endswith(".vcf"))


def contact_of(message: Message, timeout: float | None) -> Contact | None:
    """The contact card ``message`` carries, downloaded and parsed; None without one."""
    for attachment in message.attachments:
        if is_vcard(attachment.mime_type, attachment.file_name):
            if attachment.size > MAX_VCARD:
                raise ValidationError(f"the contact card {attachment.file_name} is too large "
                                      f"({attachment.size} bytes)")
            return Contact.from_vcard(attachment.read(timeout=timeout))
    return None
