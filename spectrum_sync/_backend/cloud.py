"""The cloud backend: Spectrum's gRPC API over the client's lines.

It turns "what the user asked" (send into this space, create a chat with these users, react
to that message) into requests on the right line, applies the routing rules (which line
serves a space) and the client-side quotas, and returns public types. API objects never
build protobuf messages; they call the :class:`~spectrum_sync._models.SpaceOperations`
implemented here. See docs/architecture.md for the path of a send.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._addresses import DM, GROUP, dm_guid, parse_chat_guid
from .._errors import (
    ClientClosed,
    NotFoundError,
    RateLimitError,
    RoutingError,
    SpectrumError,
    UnsupportedError,
    ValidationError,
)
from .._models import LineInfo, Message, Space, User
from .._proto import addresses_pb2, chats_pb2, messages_pb2
from .._state.monitor import StoreMonitor
from .._transport.credentials import CloudAuth
from .._transport.invoker import Invoker
from .._transport.lines import SHARED, LineConnection, LineSet
from .._wire.convert import message_from_proto, reaction_to_wire, user_from_info
from .base import SpaceMaker
from .quotas import QuotaTracker, QuotaUsage, Reservation

if TYPE_CHECKING:
    from .._receive.cloud_feed import CloudFeed
    from .._state.base import StateStore
from .routing import Routing

__all__ = ["CloudBackend"]

log = logging.getLogger("spectrum_sync.backend")


class CloudBackend:
    """Operations on Spectrum Cloud (or a self-hosted relay) through a :class:`LineSet`.

    ``mode`` is "shared", "dedicated" (both from the token grant) or "explicit" (lines
    given by the user)."""

    def __init__(
        self,
        lines: LineSet,
        invoker: Invoker,
        routing: Routing,
        quotas: QuotaTracker,
        monitor: StoreMonitor,
        auth: CloudAuth | None = None,
    ) -> None:
        self.lines = lines
        self.invoker = invoker
        self.routing = routing
        self.quotas = quotas
        self.monitor = monitor
        self.auth = auth
        self.closed = False
        self.space = SpaceMaker(self)
        self.set_owner = self.space.set_owner

    def __repr__(self) -> str:
        return f"CloudBackend({self.summary()})"

    def summary(self) -> str:
        """What the client's repr shows of its backend."""
        return f"lines={self.lines.phones}"

    # ----- lines and routing ----------------------------------------------------------

    def ready(self, timeout: float | None = None) -> None:
        """Make sure the client is open and the first token grant (so the line set) is in."""
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
        if self.closed:
            raise ClientClosed("the client is closed")
        line = self.lines.find(phone)
        if line is None:
            self.ready(timeout)
            line = self.lines.get(phone)
        return line

    def space_for(self, chat_guid: str, phone: str | None, timeout: float | None) -> Space:
        """A space for a known chat guid, routed without an RPC: the given line, else the
        remembered one, else the only line, else :class:`RoutingError`."""
        kind = GROUP if parse_chat_guid(chat_guid)[1] == "+" else DM
        self.ready(timeout)
        if self.mode == "shared":
            return self.space(chat_guid, kind, SHARED)
        if phone is not None:
            line = self.lines.get(phone)
            # The caller says which line serves the chat (e.g. from a webhook): remember it.
            self.routing.learn(chat_guid, line.phone)
        else:
            remembered = self.routing.lookup(chat_guid)
            found = self.lines.find(remembered) if remembered else None
            found = found or self.lines.only()
            if found is None:
                raise RoutingError(
                    f"cannot tell which line serves {chat_guid!r}: pass phone=",
                    self.lines.phones)
            line = found
        return self.space(chat_guid, kind, line.phone)

    def phones(self) -> list[str]:
        """The phone numbers of the current lines ("shared" in shared mode)."""
        self.ready()
        return self.lines.phones

    def line_infos(self) -> list[LineInfo]:
        """The current lines, described without their tokens."""
        self.ready()
        return sorted((LineInfo(phone=ln.phone, instance_id=ln.key, address=ln.address,
                                tls=ln.tls) for ln in self.lines.all()),
                      key=lambda info: info.phone)

    def quota_usage(self, phone: str | None, timeout: float | None) -> QuotaUsage:
        """Today's usage of the line ``phone`` (may be omitted with one line)."""
        self.ready(timeout)
        if phone is None:
            only = self.lines.only()
            if only is None:
                raise RoutingError("several lines: pass phone= to quota()", self.lines.phones)
            phone = only.phone
        return self.quotas.usage(self.line(phone).phone)

    def refresh_credentials(self) -> bool:
        """Re-exchange the token now (rate-limited); False when skipped or without a token
        exchange (explicit lines)."""
        self.ready()
        return self.auth.refresh(force=True) if self.auth is not None else False

    def feed(self, store: StateStore, lease_ttl: float) -> CloudFeed:
        """What a receive engine reads: the streams of every line (shared with the other
        receiving processes when ``store`` coordinates them)."""
        from .._receive.cloud_feed import CloudFeed

        return CloudFeed(self.lines, self.invoker, store, lease_ttl)

    def receiving_lines(self) -> list[tuple[str, str]]:
        """The lines a receive loop reads, as (key, phone), for health."""
        return sorted((line.key, line.phone) for line in self.lines.all())

    def learn_route(self, chat_guid: str, phone: str) -> None:
        """Routing fed by inbound traffic: ``chat_guid`` is served by line ``phone`` (and the
        chat is known to that line, so a reply is no new conversation). Best effort."""
        if self.routing.learn(chat_guid, phone):
            self.quotas.record_contact(phone, chat_guid)

    # ----- calls ----------------------------------------------------------------------

    def _call(self, line: LineConnection, request: Any, timeout: float | None,
              idempotency_key: str | None = None) -> Any:
        budget = self.invoker.default_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        while True:
            try:
                return self.invoker.call(line, request, timeout=budget,
                                         idempotency_key=idempotency_key)
            except RateLimitError as exc:
                raise self.quotas.translate(exc, line.phone) from None
            except RoutingError:
                # The line was detached while we used it. If a line with the same number
                # took its place (the cloud replaced the instance), carry on there.
                replacement = self.lines.find(line.phone)
                budget = deadline - time.monotonic()
                if replacement is None or replacement is line or budget <= 0:
                    raise
                line = replacement

    def _reserved_call(self, line: LineConnection, reservation: Reservation, request: Any,
                       timeout: float | None, idempotency_key: str | None) -> Any:
        """A call that spends quota: the reservation is given back unless the call may
        have been carried out; after success the bookkeeping never fails the call."""
        try:
            response = self._call(line, request, timeout, idempotency_key)
        except SpectrumError as exc:
            if exc.outcome != "unknown":
                reservation.release()
            raise
        except BaseException:
            reservation.release()
            raise
        reservation.commit()
        return response

    def create_chat(self, addresses: Sequence[str], phone: str | None, *,
                    idempotency_key: str | None, timeout: float | None) -> Space:
        """A DM (one address) or group chat on the chosen line (CreateChat)."""
        if not addresses:
            raise ValidationError("a space needs at least one user")
        self.ready(timeout)
        if self.mode == "shared":
            if len(addresses) > 1:
                raise UnsupportedError(
                    "group chats", "shared", "shared mode cannot create group chats")
            return self.space(dm_guid(addresses[0]), DM, SHARED)
        direct = dm_guid(addresses[0]) if len(addresses) == 1 else None
        line = self.lines.get(phone) if phone else self._line_for_new_chat(direct)
        request = chats_pb2.CreateChatRequest(addresses=list(addresses))
        chat = self._call(line, request, timeout, idempotency_key).chat
        kind = GROUP if chat.is_group or len(addresses) > 1 else DM
        self.routing.learn(chat.guid, line.phone)
        if direct is not None and direct != chat.guid:
            self.routing.learn(direct, line.phone)  # the same person, next time: same line
        return self.space(chat.guid, kind, line.phone, _display_name(chat))

    def _line_for_new_chat(self, direct: str | None) -> LineConnection:
        """The line that already talks to this person, else one at random: a retried
        creation (or send) must not move to another number, since idempotency keys are
        remembered per line."""
        if direct is not None:
            remembered = self.routing.lookup(direct)
            found = self.lines.find(remembered) if remembered else None
            if found is not None:
                return found
        return self.lines.pick()

    def address_info(self, address: str, timeout: float | None) -> User | None:
        """GetAddressInfo on some line; None when the address is unknown (NOT_FOUND)."""
        self.ready(timeout)
        line = self.lines.only() or self.lines.pick()
        request = addresses_pb2.GetAddressInfoRequest(address=address)
        try:
            response = self._call(line, request, timeout)
        except NotFoundError:
            return None
        return user_from_info(response.info)

    # ----- SpaceOperations ------------------------------------------------------------

    def send_text(
        self, space: Space, text: str, *, reply_to: str | None, effect: str | None,
        subject: str | None, idempotency_key: str | None, timeout: float | None,
    ) -> Message:
        line = self.line(space.phone, timeout)
        # Shared numbers are unknown: only the server can tell whether a quota is spent.
        reservation = self.quotas.reserve(line.phone, space.id, enforce=not line.shared)
        request = messages_pb2.SendTextMessageRequest(
            chat_guid=space.id, text=text, subject=subject, effect_id=effect)
        if reply_to:
            request.reply_to.message_guid = reply_to
        response = self._reserved_call(line, reservation, request, timeout, idempotency_key)
        return message_from_proto(response.message, space)

    def set_typing(self, space: Space, typing: bool, *, timeout: float | None) -> None:
        line = self.line(space.phone, timeout)
        self._call(line, chats_pb2.SetTypingRequest(chat_guid=space.id, is_typing=typing),
                   timeout)

    def mark_read(self, space: Space, *, idempotency_key: str | None,
                  timeout: float | None) -> None:
        line = self.line(space.phone, timeout)
        self._call(line, chats_pb2.MarkChatReadRequest(chat_guid=space.id), timeout,
                   idempotency_key)

    def get_chat(self, space: Space, *, timeout: float | None) -> tuple[Space, list[User]]:
        line = self.line(space.phone, timeout)
        chat = self._call(line, chats_pb2.GetChatRequest(chat_guid=space.id), timeout).chat
        fresh = self.space(chat.guid or space.id, GROUP if chat.is_group else space.type,
                           space.phone, _display_name(chat))
        return fresh, [user_from_info(p) for p in chat.participants]

    @staticmethod
    def _target(message: Message) -> messages_pb2.MessageTarget:
        return messages_pb2.MessageTarget(chat_guid=message.space.id, message_guid=message.guid)

    def edit(self, message: Message, text: str, *, idempotency_key: str | None,
             timeout: float | None) -> Message:
        line = self.line(message.space.phone, timeout)
        request = messages_pb2.EditMessageRequest(target=self._target(message), new_text=text)
        response = self._call(line, request, timeout, idempotency_key)
        return message_from_proto(response.message, message.space)

    def unsend(self, message: Message, *, idempotency_key: str | None,
               timeout: float | None) -> None:
        line = self.line(message.space.phone, timeout)
        request = messages_pb2.UnsendMessageRequest(target=self._target(message))
        self._call(line, request, timeout, idempotency_key)

    def react(self, message: Message, reaction: str, on: bool, *,
              idempotency_key: str | None, timeout: float | None) -> None:
        line = self.line(message.space.phone, timeout)
        request = messages_pb2.SetReactionRequest(
            target=self._target(message), reaction=reaction_to_wire(reaction), is_set=on)
        self._call(line, request, timeout, idempotency_key)

    def close(self) -> None:
        self.closed = True
        self.lines.close()


def _display_name(chat: chats_pb2.Chat) -> str | None:
    return chat.display_name if chat.HasField("display_name") else None
