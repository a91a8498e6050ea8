"""The cloud backend: Spectrum's gRPC API over the client's lines.

It turns "what the user asked" (send into this space, create a chat with
these users, react to that message) into requests on the right line, applies
the routing rules of DESIGN.md 2.3 and the quotas of 2.4, and returns models.
API objects never build protobuf messages themselves; a local backend can
implement the same operations (:class:`spectrum_sync.models.SpaceOperations`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Callable, TypeVar

from ._proto import addresses_pb2, chats_pb2, messages_pb2
from .auth import CloudAuth
from .errors import (
    ClientClosed,
    NotFoundError,
    RateLimitError,
    RoutingError,
    UnsupportedError,
    ValidationError,
)
from .lines import SHARED, LineConnection, LineSet, Routing
from .models import (
    DM,
    GROUP,
    Message,
    Space,
    User,
    dm_guid,
    message_from_proto,
    parse_chat_guid,
    reaction_to_wire,
    user_from_info,
)
from .quotas import QuotaTracker
from .transport import Invoker, new_uuid

__all__ = ["CloudBackend"]

log = logging.getLogger("spectrum_sync.backend")

_R = TypeVar("_R")

_P = "/photon.imessage.v1."
SEND_TEXT = _P + "MessageService/SendTextMessage"
EDIT = _P + "MessageService/EditMessage"
UNSEND = _P + "MessageService/UnsendMessage"
SET_REACTION = _P + "MessageService/SetReaction"
CREATE_CHAT = _P + "ChatService/CreateChat"
GET_CHAT = _P + "ChatService/GetChat"
MARK_READ = _P + "ChatService/MarkChatRead"
SET_TYPING = _P + "ChatService/SetTyping"
GET_ADDRESS_INFO = _P + "AddressService/GetAddressInfo"

# Tapbacks may also be named; a sticker is not a tapback (SetReaction rejects it).
_TAPBACK_NAMES = {
    "love": "❤️",
    "like": "👍",
    "dislike": "👎",
    "laugh": "😂",
    "emphasize": "‼️",
    "question": "❓",
}


class CloudBackend:
    """Operations on Spectrum Cloud (or a self-hosted relay) through a :class:`LineSet`.

    ``mode`` is "shared", "dedicated" (both from the token grant) or
    "explicit" (lines given by the user).
    """

    def __init__(
        self,
        lines: LineSet,
        invoker: Invoker,
        routing: Routing,
        quotas: QuotaTracker,
        auth: CloudAuth | None = None,
    ) -> None:
        self.lines = lines
        self.invoker = invoker
        self.routing = routing
        self.quotas = quotas
        self.auth = auth
        self.closed = False

    def __repr__(self) -> str:
        return f"CloudBackend(lines={self.lines.phones})"

    # ----- lines and routing --------------------------------------------

    def ready(self, timeout: float | None = None) -> None:
        """Make sure the first token grant (and so the line set) is there."""
        if self.closed:
            raise ClientClosed("the client is closed")
        auth = self.auth
        if auth is not None and auth.grant is None:
            auth.ensure_fresh(self.invoker.default_timeout if timeout is None else timeout)

    @property
    def mode(self) -> str:
        auth = self.auth
        if auth is None:
            return "explicit"
        self.ready()
        assert auth.grant is not None
        return auth.grant.kind

    def line(self, phone: str, timeout: float | None = None) -> LineConnection:
        """The line of a space (by its phone), else :class:`RoutingError`."""
        line = self.lines.find(phone)
        if line is None or self.closed:
            self.ready(timeout)
            line = self.lines.get(phone)
        return line

    def choose_line(self, phone: str | None, timeout: float | None) -> LineConnection:
        """The named line, else one at random (for new conversations)."""
        self.ready(timeout)
        return self.lines.get(phone) if phone else self.lines.pick()

    def space_for(self, chat_guid: str, phone: str | None, timeout: float | None) -> Space:
        """A space for a known chat guid, routed per DESIGN.md 2.3 (no RPC)."""
        kind = GROUP if parse_chat_guid(chat_guid)[1] == "+" else DM
        self.ready(timeout)
        if self.mode == "shared":
            return Space(chat_guid, kind, SHARED, ops=self)
        if phone is not None:
            line = self.lines.get(phone)
        else:
            remembered = self.routing.lookup(chat_guid)
            line_or_none = self.lines.find(remembered) if remembered else None
            line_or_none = line_or_none or self.lines.only()
            if line_or_none is None:
                raise RoutingError(
                    f"cannot tell which line serves {chat_guid!r}: pass phone=", self.lines.phones
                )
            line = line_or_none
        return Space(chat_guid, kind, line.phone, ops=self)

    def learn_route(self, chat_guid: str, phone: str) -> None:
        """Routing fed by inbound traffic: ``chat_guid`` is served by line ``phone``."""
        self.routing.learn(chat_guid, phone)
        self.quotas.record_contact(phone, chat_guid)

    # ----- calls ----------------------------------------------------------

    def _call(
        self,
        line: LineConnection,
        method: Callable[..., _R],
        name: str,
        request: Any,
        timeout: float | None,
    ) -> _R:
        try:
            return self.invoker.unary(line, method, name, request, timeout)
        except RateLimitError as exc:
            raise self.quotas.translate(exc, line.phone) from None

    def create_chat(
        self, addresses: Sequence[str], phone: str | None, timeout: float | None
    ) -> Space:
        """A DM (one address) or group chat on the chosen line (CreateChat)."""
        if not addresses:
            raise ValidationError("a space needs at least one user")
        self.ready(timeout)
        if self.mode == "shared":
            if len(addresses) > 1:
                raise UnsupportedError(
                    "group chats", "shared", "shared mode cannot create group chats"
                )
            return Space(dm_guid(addresses[0]), DM, SHARED, ops=self)
        line = self.choose_line(phone, timeout)
        request = chats_pb2.CreateChatRequest(
            addresses=list(addresses), client_message_id=new_uuid()
        )
        response = self._call(line, line.stubs.chats.CreateChat, CREATE_CHAT, request, timeout)
        chat = response.chat
        kind = GROUP if chat.is_group or len(addresses) > 1 else DM
        self.routing.learn(chat.guid, line.phone)
        return Space(chat.guid, kind, line.phone, display_name=_display_name(chat), ops=self)

    def address_info(self, address: str, timeout: float | None) -> User | None:
        """GetAddressInfo on some line; None when the address is unknown (NOT_FOUND)."""
        self.ready(timeout)
        line = self.lines.only() or self.lines.pick()
        request = addresses_pb2.GetAddressInfoRequest(address=address)
        try:
            response = self._call(
                line, line.stubs.addresses.GetAddressInfo, GET_ADDRESS_INFO, request, timeout
            )
        except NotFoundError:
            return None
        return user_from_info(response.info)

    # ----- SpaceOperations ------------------------------------------------

    def send_text(
        self,
        space: Space,
        text: str,
        *,
        reply_to: str | None,
        effect: str | None,
        subject: str | None,
        timeout: float | None,
    ) -> Message:
        if not isinstance(text, str) or not text:
            raise ValidationError("text must be a non-empty string")
        line = self.line(space.phone, timeout)
        enforce = space.phone != SHARED  # shared numbers are unknown: the server decides
        if enforce:
            self.quotas.check(line.phone, space.id)
        request = messages_pb2.SendTextMessageRequest(
            chat_guid=space.id,
            text=text,
            subject=subject,
            effect_id=effect,
            # Same id on every retry: the server then never makes two bubbles.
            client_message_id=new_uuid(),
        )
        if reply_to:
            request.reply_to.message_guid = reply_to
        response = self._call(
            line, line.stubs.messages.SendTextMessage, SEND_TEXT, request, timeout
        )
        self.quotas.record(line.phone, space.id)
        return message_from_proto(response.message, space)

    def set_typing(self, space: Space, typing: bool, timeout: float | None) -> None:
        line = self.line(space.phone, timeout)
        request = chats_pb2.SetTypingRequest(chat_guid=space.id, is_typing=bool(typing))
        self._call(line, line.stubs.chats.SetTyping, SET_TYPING, request, timeout)

    def mark_read(self, space: Space, timeout: float | None) -> None:
        line = self.line(space.phone, timeout)
        request = chats_pb2.MarkChatReadRequest(chat_guid=space.id)
        self._call(line, line.stubs.chats.MarkChatRead, MARK_READ, request, timeout)

    def get_chat(self, space: Space, timeout: float | None) -> tuple[Space, list[User]]:
        line = self.line(space.phone, timeout)
        request = chats_pb2.GetChatRequest(chat_guid=space.id)
        chat = self._call(line, line.stubs.chats.GetChat, GET_CHAT, request, timeout).chat
        fresh = Space(
            chat.guid or space.id,
            GROUP if chat.is_group else space.type,
            space.phone,
            display_name=_display_name(chat),
            ops=self,
        )
        return fresh, [user_from_info(p) for p in chat.participants]

    def _target(self, message: Message) -> messages_pb2.MessageTarget:
        return messages_pb2.MessageTarget(chat_guid=message.space.id, message_guid=message.guid)

    def edit(self, message: Message, text: str, timeout: float | None) -> Message:
        if not isinstance(text, str) or not text:
            raise ValidationError("text must be a non-empty string")
        line = self.line(message.space.phone, timeout)
        request = messages_pb2.EditMessageRequest(target=self._target(message), new_text=text)
        response = self._call(line, line.stubs.messages.EditMessage, EDIT, request, timeout)
        return message_from_proto(response.message, message.space)

    def unsend(self, message: Message, timeout: float | None) -> None:
        line = self.line(message.space.phone, timeout)
        request = messages_pb2.UnsendMessageRequest(target=self._target(message))
        self._call(line, line.stubs.messages.UnsendMessage, UNSEND, request, timeout)

    def react(self, message: Message, emoji: str, on: bool, timeout: float | None) -> None:
        name = emoji.strip().lower() if isinstance(emoji, str) else ""
        if name == "sticker":
            raise ValidationError("a sticker is not a tapback; SetReaction rejects STICKER")
        reaction = reaction_to_wire(_TAPBACK_NAMES.get(name, emoji))
        line = self.line(message.space.phone, timeout)
        request = messages_pb2.SetReactionRequest(
            target=self._target(message), reaction=reaction, is_set=bool(on)
        )
        self._call(line, line.stubs.messages.SetReaction, SET_REACTION, request, timeout)

    def close(self) -> None:
        self.closed = True
        self.lines.close()


def _display_name(chat: chats_pb2.Chat) -> str | None:
    return chat.display_name if chat.HasField("display_name") else None
