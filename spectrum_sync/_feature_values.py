"""Plain values of the rarer features: Find My locations and requests, Focus status, line
descriptions, poll options and votes, sticker placements and embedded media.

They sit beside ``_values.py`` in the values layer (docs/architecture.md, "Layers"), apart
from the values every message carries: building an attrs class costs a process's start-up
about 1.7 M instructions, and a one-shot send (bench/oneshot.py) needs none of these. The
modules that use them at import time are above the send path (events, polls, the local Mac
backend); the send path loads them on first use.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import ValidationError
from ._records import field_methods

if TYPE_CHECKING:
    from ._values import User

__all__ = [
    "EmbeddedMedia",
    "FocusStatus",
    "FriendLocation",
    "LineInfo",
    "LocationRequest",
    "PollOption",
    "PollVote",
    "StickerPlacement",
]


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class FriendLocation:
    """A friend's location shared with a line through Find My.

    ``latitude``/``longitude`` (degrees) and ``accuracy`` (metres) are None while the
    device is still being located (``locating``); ``kind`` is ``"live"``, ``"legacy"`` (a
    cached last-known fix), ``"shallow"`` (a low-power estimate) or ``"unknown"``;
    ``phone`` is the line it is shared with."""

    address: str
    phone: str
    name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy: float | None = None
    long_address: str | None = None
    short_address: str | None = None
    locating: bool = False
    kind: str = "unknown"
    located_at: datetime | None = None
    expires_at: datetime | None = None


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class LocationRequest:
    """The answer to a Find My request sent to ``address``: the service's ``status``, its
    ``reason`` when it gives one, and the guid of the request card when one was sent."""

    address: str
    status: str
    reason: str | None = None
    message_guid: str | None = None


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class FocusStatus:
    """Whether Focus (Do Not Disturb) silences notifications from ``address`` on the line's
    device (``silenced``)."""

    address: str
    silenced: bool


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class LineInfo:
    """A line as ``client.lines`` describes it: ``phone``, ``instance_id`` (the cloud's id of
    the line; the phone for explicit lines), gRPC ``address`` and ``tls``."""

    phone: str
    instance_id: str
    address: str
    tls: bool


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class EmbeddedMedia:
    """Media carried inside a message (a Digital Touch sketch...): ``data`` and
    ``mime_type``."""

    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    mime_type: str


def _fraction(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if attribute.name in ("x", "y"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
            0.0 <= value <= 1.0)
        if not ok:
            raise ValidationError(f"sticker {attribute.name} must be a number from 0 to 1, "
                                  f"not {value!r}")
        return
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value or (
            attribute.name != "rotation" and value <= 0):
        raise ValidationError(f"sticker {attribute.name} must be a "
                              f"{'' if attribute.name == 'rotation' else 'positive '}number, "
                              f"not {value!r}")


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class StickerPlacement:
    """Where a sticker sits on its bubble: ``x``/``y`` as fractions of the bubble (0 to 1),
    ``scale``, ``rotation`` (radians) and ``width`` (points) when given."""

    x: float = attrs.field(default=0.5, validator=_fraction)
    y: float = attrs.field(default=0.5, validator=_fraction)
    scale: float | None = attrs.field(default=None, validator=_fraction)
    rotation: float | None = attrs.field(default=None, validator=_fraction)
    width: float | None = attrs.field(default=None, validator=_fraction)


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class PollOption:
    """One option of a poll."""

    id: str
    text: str
    creator: str | None = None


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class PollVote:
    """One participant's vote: ``voter`` (None when the server does not name them),
    ``option_id`` and the option's ``option_text`` (None for an option the poll no longer
    lists)."""

    voter: User | None
    option_id: str
    option_text: str | None = None
