"""``client.space``: creating and looking up spaces (DESIGN.md 2.3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable, Union

from .backend import CloudBackend
from .errors import ValidationError
from .models import Space, User

__all__ = ["SpaceAPI"]

UserLike = Union[User, str]


class SpaceAPI:
    """Entry point for spaces; reached as ``client.space``."""

    def __init__(
        self,
        backend: Callable[[], CloudBackend],
        normalize: Callable[[str], User],
    ) -> None:
        self._backend = backend
        self._normalize = normalize

    def __repr__(self) -> str:
        return "SpaceAPI()"

    def _address(self, user: UserLike) -> str:
        if isinstance(user, User):
            return user.address
        if isinstance(user, str):
            return self._normalize(user).address
        raise ValidationError(f"expected a User or an address, got {type(user).__name__}")

    def create(
        self,
        users: UserLike | Sequence[UserLike],
        phone: str | None = None,
        *,
        timeout: float | None = None,
    ) -> Space:
        """A DM with one user or a group with several.

        Dedicated lines: created on the line ``phone``, else on a line picked at
        random; the line is remembered for every later action on the space.
        Shared mode builds the DM guid without an RPC and refuses groups
        (:class:`~spectrum_sync.errors.UnsupportedError`)."""
        many = [users] if isinstance(users, (User, str)) else list(users)
        addresses = list(dict.fromkeys(self._address(user) for user in many))
        return self._backend().create_chat(addresses, phone, timeout)

    def get(self, guid: str, phone: str | None = None, *, timeout: float | None = None) -> Space:
        """The space of a chat guid, without an RPC.

        The line is ``phone`` if given, else the one remembered for the chat,
        else the only line; otherwise a
        :class:`~spectrum_sync.errors.RoutingError` lists the numbers."""
        return self._backend().space_for(guid, phone, timeout)
