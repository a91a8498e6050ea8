"""The backend of spaces that came from a webhook (``SpaceOperations``, beside the cloud and
local backends): parsing needs no network, so such a space either forwards each action to the
client's own space for the same chat, or, parsed without a client, refuses with an
explanation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import attrs

from .._errors import SpectrumError
from .._models import Message, Space
from .._values import TextFormat, User

if TYPE_CHECKING:
    from .._client import Client


class DetachedOps:
    """The backend of spaces parsed without a client: every action explains itself."""

    mode = "webhook"

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise SpectrumError("this space came from a webhook without a client; pass client= "
                            "to parse() to act on it", code="noClient")

    send_text = set_typing = mark_read = get_chat = edit = unsend = react = _refuse
    send_file = send_parts = attachment_info = download_attachment = share_contact = _refuse
    history_page = rename_group = change_members = leave_group = set_group_icon = _refuse
    group_icon = create_poll = get_poll = change_poll = _refuse
    refresh_message = place_sticker = notify_anyway = embedded_media = _refuse
    send_app_card = update_app_card = set_background = has_background = _refuse


DETACHED = DetachedOps()


def _forward(name: str) -> Callable[..., Any]:
    """An operation on a webhook's space, carried out by the client's own space."""

    def forward(self: ClientOps, space: Space, *args: Any, **kwargs: Any) -> Any:
        real = self._real(space, kwargs.get("timeout"))
        return getattr(real._ops, name)(real, *args, **kwargs)

    forward.__name__ = name
    return forward


def _forward_message(name: str) -> Callable[..., Any]:
    """An operation on a webhook's message, carried out in the client's own space."""

    def forward(self: ClientOps, message: Message, *args: Any, **kwargs: Any) -> Any:
        real = self._message(message, kwargs.get("timeout"))
        return getattr(real.space._ops, name)(real, *args, **kwargs)

    forward.__name__ = name
    return forward


class ClientOps:
    """Acts for a webhook's space through a client: the client's own space is looked up on
    the first action (not while parsing, which must never need the network), on the line
    the webhook named."""

    mode = "webhook"

    def __init__(self, client: Client, phone: str) -> None:
        self._client = client
        self._phone = phone or None

    def _real(self, space: Space, timeout: float | None) -> Space:
        return self._client.space.get(space.id, phone=self._phone, timeout=timeout)

    def _message(self, message: Message, timeout: float | None) -> Message:
        return attrs.evolve(message, space=self._real(message.space, timeout))

    def send_text(self, space: Space, text: str, *, reply_to: str | None, effect: str | None,
                  subject: str | None, formatting: tuple[TextFormat, ...] = (),
                  idempotency_key: str | None, timeout: float | None,
                  reply_part: int | None = None) -> Message:
        real = self._real(space, timeout)
        return real._ops.send_text(real, text, reply_to=reply_to, effect=effect,
                                   subject=subject, formatting=formatting,
                                   idempotency_key=idempotency_key, timeout=timeout,
                                   reply_part=reply_part)

    send_file = _forward("send_file")
    send_parts = _forward("send_parts")
    attachment_info = _forward("attachment_info")
    download_attachment = _forward("download_attachment")
    share_contact = _forward("share_contact")
    history_page = _forward("history_page")
    rename_group = _forward("rename_group")
    change_members = _forward("change_members")
    leave_group = _forward("leave_group")
    set_group_icon = _forward("set_group_icon")
    group_icon = _forward("group_icon")
    create_poll = _forward("create_poll")
    get_poll = _forward("get_poll")
    send_app_card = _forward("send_app_card")
    set_background = _forward("set_background")
    has_background = _forward("has_background")
    refresh_message = _forward_message("refresh_message")
    place_sticker = _forward_message("place_sticker")
    notify_anyway = _forward_message("notify_anyway")
    embedded_media = _forward_message("embedded_media")
    update_app_card = _forward_message("update_app_card")

    def change_poll(self, poll: Any, action: str, value: str | None, *,
                    idempotency_key: str | None, timeout: float | None) -> Any:
        real = attrs.evolve(poll, space=self._real(poll.space, timeout))
        return real.space._ops.change_poll(real, action, value,
                                           idempotency_key=idempotency_key, timeout=timeout)

    def set_typing(self, space: Space, typing: bool, *, timeout: float | None) -> None:
        real = self._real(space, timeout)
        real._ops.set_typing(real, typing, timeout=timeout)

    def mark_read(self, space: Space, *, idempotency_key: str | None,
                  timeout: float | None) -> None:
        real = self._real(space, timeout)
        real._ops.mark_read(real, idempotency_key=idempotency_key, timeout=timeout)

    def get_chat(self, space: Space, *, timeout: float | None) -> tuple[Space, list[User]]:
        real = self._real(space, timeout)
        return real._ops.get_chat(real, timeout=timeout)

    def edit(self, message: Message, text: str, *, part: int | None = None,
             idempotency_key: str | None, timeout: float | None) -> Message:
        real = self._message(message, timeout)
        return real.space._ops.edit(real, text, part=part, idempotency_key=idempotency_key,
                                    timeout=timeout)

    def unsend(self, message: Message, *, part: int | None = None,
               idempotency_key: str | None, timeout: float | None) -> None:
        real = self._message(message, timeout)
        real.space._ops.unsend(real, part=part, idempotency_key=idempotency_key,
                               timeout=timeout)

    def react(self, message: Message, reaction: str, on: bool, *, part: int | None = None,
              idempotency_key: str | None, timeout: float | None) -> None:
        real = self._message(message, timeout)
        real.space._ops.react(real, reaction, on, part=part, idempotency_key=idempotency_key,
                              timeout=timeout)
