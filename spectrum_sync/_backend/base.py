"""What every backend (cloud, local) offers the API objects and the receive component.

The client, ``client.space``, the user directory and the receive component talk to a
:class:`Backend`; spaces and messages to its :class:`~spectrum_sync._models.SpaceOperations`
part. :class:`SpaceMaker` is the one way a backend makes :class:`Space` values.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Callable, Protocol

from .._models import Message, Space, SpaceOperations
from .._values import User

if TYPE_CHECKING:
    from .._feature_values import FriendLocation, LineInfo, LocationRequest
    from .quotas import QuotaUsage

__all__ = ["Backend", "Pager", "SpaceMaker"]

#: One source of recent messages: (page size, page token) -> (messages newest first, next token)
Pager = Callable[[int, "str | None"], "tuple[list[Message], str | None]"]


class Backend(SpaceOperations, Protocol):
    """See the module docstring."""

    def set_owner(self, owner: object) -> None: ...

    def summary(self) -> str:
        """What the client's repr shows of its backend (never a secret)."""

    def space(self, chat_guid: str, kind: str, phone: str,
              display_name: str | None = None) -> Space: ...

    def ready(self, timeout: float | None = None) -> None:
        """Raise ClientClosed when closed; make sure the configuration is usable."""

    def phones(self) -> list[str]: ...

    def line_infos(self) -> list[LineInfo]: ...

    def quota_usage(self, phone: str | None, timeout: float | None) -> QuotaUsage: ...

    def refresh_credentials(self) -> bool: ...

    def space_for(self, chat_guid: str, phone: str | None, timeout: float | None) -> Space: ...

    def create_chat(self, addresses: Sequence[str], phone: str | None, *, service: str,
                    idempotency_key: str | None, timeout: float | None) -> Space: ...

    def address_info(self, address: str, timeout: float | None) -> User | None: ...

    def get_message(self, guid: str, phone: str | None, timeout: float | None) -> Message: ...

    def recent_pagers(self, phone: str | None, timeout: float | None) -> list[Pager]:
        """One pager of recent messages per line (the line ``phone``, else every line)."""

    def imessage_available(self, address: str, timeout: float | None) -> bool: ...

    def focus_silenced(self, address: str, timeout: float | None) -> bool: ...

    def chat_count(self, include_archived: bool, phone: str | None,
                   timeout: float | None) -> int: ...

    def friend_locations(self, address: str | None, phone: str | None,
                         timeout: float | None) -> list[FriendLocation]: ...

    def request_location(self, space: Space, address: str, *, idempotency_key: str | None,
                         timeout: float | None) -> LocationRequest: ...

    def watch_locations(self, address: str | None, phone: str | None
                        ) -> Iterator[FriendLocation]: ...

    def receiving_lines(self) -> list[tuple[str, str]]:
        """The sources a receive loop reads, as (key, phone), for health."""

    def learn_route(self, chat_guid: str, phone: str) -> None: ...

    def close(self) -> None: ...


class SpaceMaker:
    """Makes the spaces of one backend. The client is held weakly here (threads reach the
    backend and must not keep a forgotten client alive), strongly by each space made: a
    space keeps its client open while someone still uses it."""

    def __init__(self, ops: SpaceOperations) -> None:
        self._ops = ops
        self._owner: Callable[[], object] = lambda: None

    def set_owner(self, owner: object) -> None:
        self._owner = weakref.ref(owner)

    def __call__(self, chat_guid: str, kind: str, phone: str,
                 display_name: str | None = None) -> Space:
        return Space(id=chat_guid, type=kind, phone=phone, display_name=display_name,
                     ops=self._ops, owner=self._owner())
