"""``client.space``: creating and looking up spaces."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Callable, Union

from ._errors import ValidationError
from ._models import Space
from ._validate import check_guid, check_idempotency_key, check_phone, check_timeout
from ._values import User

if TYPE_CHECKING:
    from ._backend.base import Backend

__all__ = ["SpaceAPI"]

UserLike = Union[User, str]

#: The services a chat can be created on, by the names ``User.service`` uses.
CHAT_SERVICES = ("iMessage", "SMS", "RCS")


def _check_service(service: object) -> str:
    for name in CHAT_SERVICES:
        if isinstance(service, str) and service.lower() == name.lower():
            return name
    raise ValidationError(
        f"service must be one of {', '.join(CHAT_SERVICES)}, not {service!r}")


class SpaceAPI:
    """Entry point for spaces; reached as ``client.space``."""

    def __init__(self, backend: Callable[[], Backend],
                 normalize: Callable[[str], User]) -> None:
        self._backend = backend
        self._normalize = normalize

    def __repr__(self) -> str:
        return "SpaceAPI()"

    def _address(self, user: object) -> str:
        if isinstance(user, User):
            return user.address
        if isinstance(user, str):
            return self._normalize(user).address
        raise ValidationError(
            f"expected a User or an address (a string), got {type(user).__name__}")

    def create(
        self,
        users: UserLike | Iterable[UserLike],
        phone: str | None = None,
        *,
        service: str = "iMessage",
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Space:
        """A DM with one user or a group with several.

        Dedicated lines: created on the line ``phone``, else on a line picked at random; the
        line is remembered for every later action on the space. Shared mode builds the DM
        guid without an RPC and refuses groups (:class:`~spectrum_sync.UnsupportedError`).
        ``service`` is the chat's service: ``"iMessage"`` (the default, as the official
        client sends), ``"SMS"`` or ``"RCS"``."""
        if isinstance(users, (User, str)):
            many: list[object] = [users]
        elif isinstance(users, Iterable) and not isinstance(users, (bytes, dict)):
            many = list(users)
        else:
            raise ValidationError(
                f"space.create takes a User, an address or a list of them, not {users!r}")
        addresses = list(dict.fromkeys(self._address(user) for user in many))
        return self._backend().create_chat(
            addresses, check_phone(phone), service=_check_service(service),
            idempotency_key=check_idempotency_key(idempotency_key),
            timeout=check_timeout(timeout))

    def get(self, guid: str, phone: str | None = None, *,
            timeout: float | None = None) -> Space:
        """The space of a chat guid, without an RPC.

        The line is ``phone`` if given, else the one remembered for the chat, else the only
        line; otherwise a :class:`~spectrum_sync.RoutingError` lists the numbers."""
        return self._backend().space_for(check_guid("chat guid", guid), check_phone(phone),
                                         check_timeout(timeout))
