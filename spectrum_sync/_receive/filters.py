"""Which events a consumer wants (kinds, space, line, own sends)."""

from __future__ import annotations

from collections.abc import Collection

from .._addresses import normalize_address
from .._errors import InvalidAddress, ValidationError
from .._events import EVENT_KINDS, Event
from .._models import Space
from .._validate import check_phone

__all__ = ["Filter", "check_kinds"]


def check_kinds(kinds: str | Collection[str] | None) -> frozenset[str] | None:
    """Event kinds as a set (a single string is one kind); unknown kinds are refused."""
    if kinds is None:
        return None
    names = (kinds,) if isinstance(kinds, str) else kinds
    try:
        chosen = frozenset(names)
    except TypeError:
        raise ValidationError(f"kinds must be event kind names, not {kinds!r}") from None
    unknown = [k for k in chosen if k not in EVENT_KINDS]
    if unknown or not chosen:
        raise ValidationError(
            f"unknown event kinds {sorted(map(str, unknown))}; use some of {list(EVENT_KINDS)}")
    return chosen


class Filter:
    """A consumer's selection. Events it rejects are acknowledged at once (committed)."""

    __slots__ = ("chat", "include_own", "kinds", "phone")

    def __init__(
        self,
        kinds: str | Collection[str] | None = None,
        space: Space | str | None = None,
        phone: str | None = None,
        include_own: bool = False,
    ) -> None:
        self.kinds = check_kinds(kinds)
        if space is not None and not isinstance(space, (Space, str)):
            raise ValidationError(f"space must be a Space or a chat guid, not {space!r}")
        self.chat = space.id if isinstance(space, Space) else space
        phone = check_phone(phone)
        if phone and phone not in ("shared", ""):
            try:
                phone = normalize_address(phone)[0]
            except InvalidAddress:
                raise ValidationError(f"phone={phone!r} is not a line's number") from None
        self.phone = phone
        self.include_own = bool(include_own)

    def __call__(self, event: Event) -> bool:
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        if not self.include_own and event.is_from_me:
            return False
        if self.chat is not None and event.space.id != self.chat:
            return False
        return self.phone is None or event.space.phone == self.phone
