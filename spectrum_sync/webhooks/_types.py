"""What a webhook delivery becomes: the stream's event types, :class:`CustomContent` for a
content type this version does not map, and the :class:`WebhookEnvelope` around them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, Union

import attrs

from .._events import Event
from .._models import Space
from .._values import Received, User

#: The ``kind`` of :class:`CustomContent` (content types this version does not know).
CUSTOM_KIND = "custom"


@attrs.frozen(kw_only=True)
class CustomContent(Received):
    """A webhook whose content type this version does not map (e.g. ``poll``): ``raw`` is
    the content object as it came (read-only), ``content_type`` its ``type``."""

    kind: ClassVar[str] = CUSTOM_KIND

    id: str
    content_type: str
    space: Space
    sender: User | None = None
    is_from_me: bool = False
    occurred_at: datetime | None = None
    raw: Mapping[str, Any] = attrs.field(factory=lambda: MappingProxyType({}), eq=False,
                                         repr=False)


#: What a webhook yields: the stream's event types, or :class:`CustomContent`.
WebhookEvent = Union[Event, CustomContent]


@attrs.frozen(kw_only=True)
class WebhookEnvelope:
    """One delivery: its ``events``, and everything else it carried. ``id`` is the message id
    (the deduplication key), ``raw`` the whole body as read-only JSON (unknown fields
    included); ``message`` and ``content`` are parts of ``raw``."""

    event: str
    id: str
    platform: str | None
    direction: str | None
    timestamp: datetime | None
    content_type: str | None
    events: tuple[WebhookEvent, ...]
    raw: Mapping[str, Any] = attrs.field(eq=False, repr=False)

    @property
    def message(self) -> Mapping[str, Any]:
        """The ``message`` object ({} for an event type without one)."""
        found = self.raw.get("message")
        return found if isinstance(found, Mapping) else MappingProxyType({})

    @property
    def content(self) -> Mapping[str, Any]:
        """The message's ``content`` object."""
        found = self.message.get("content")
        return found if isinstance(found, Mapping) else MappingProxyType({})
