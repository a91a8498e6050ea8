"""The cloud backend: Spectrum's gRPC API over the client's lines.

It turns "what the user asked" (send into this space, create a chat with these users, react
to that message) into requests on the right line, applies the routing rules (which line
serves a space) and the client-side quotas, and returns public types. API objects never
build protobuf messages; they call the :class:`~spectrum_sync._models.SpaceOperations`
implemented here. See docs/architecture.md for the path of a send.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

import attrs
import grpc
from google.protobuf import empty_pb2

from .._addresses import DM, GROUP, dm_guid, space_type
from .._errors import (
    AlreadySent,
    ClientClosed,
    NotFoundError,
    RateLimitError,
    RoutingError,
    SpectrumError,
    UnsupportedError,
    ValidationError,
)
from .._models import Attachment, Message, Space

# The services of a send (messages_pb2 loads attachments_pb2); groups, polls and locations
# are imported by the methods that call them: a process that only sends never loads them.
from .._proto import addresses_pb2, attachments_pb2, chats_pb2, messages_pb2
from .._state.base import SentRecords
from .._state.monitor import StoreMonitor
from .._transport.credentials import CloudAuth
from .._transport.invoker import Invoker
from .._transport.lines import SHARED, LineConnection, LineSet
from .._validate import MAX_PAYLOAD_BYTES
from .._values import Icon, TextFormat, User
from .._wire.convert import (
    app_card_to_wire,
    attachment_from_info,
    datetime_to_wire,
    formatting_to_wire,
    location_from_proto,
    message_decoded_on_read,
    message_from_proto,
    poll_from_proto,
    reaction_to_wire,
    service_to_wire,
    sticker_placement_to_wire,
    user_from_info,
)
from .._wire.errors import classify
from .._wire.rpc import rpc_for
from .base import Pager, SpaceMaker
from .quotas import QuotaTracker, QuotaUsage, Reservation

# The rarer features' values are named here for annotations and made in the methods that
# need them, on first use (a plain send needs none of them: _feature_values.py).
if TYPE_CHECKING:
    from .._app_cards import AppCard
    from .._attachments import FileSource
    from .._feature_values import (
        EmbeddedMedia,
        FriendLocation,
        LineInfo,
        LocationRequest,
        StickerPlacement,
    )
    from .._parts import Part
    from .._polls import Poll
from .routing import Routing

__all__ = ["CloudBackend"]

log = logging.getLogger("spectrum_sync.backend")

# How long the state store remembers the message an idempotency key sent: retries by the
# application (a task re-run, a re-posted form, a restarted process) come within a week.
SENT_TTL = 7 * 86_400.0


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
        kind = space_type(chat_guid)
        self.ready(timeout)
        if self.mode == "shared":
            return self.space(chat_guid, kind, SHARED)
        deadline = self._deadline(timeout)
        if phone is not None:
            line = self.lines.get(phone)
            # The caller says which line serves the chat (e.g. from a webhook): remember it.
            self.routing.learn(chat_guid, line.phone, deadline)
        else:
            remembered = self.routing.lookup(chat_guid, deadline)
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
        from .._feature_values import LineInfo

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
            except AlreadySent:
                rpc = rpc_for(request)
                if rpc.response is empty_pb2.Empty:
                    # duplicateMessage: the original went through, and its answer was empty.
                    return empty_pb2.Empty()
                raise
            except RateLimitError as exc:
                raise self.quotas.translate(exc, line.phone, deadline) from None
            except RoutingError:
                # The line was detached while we used it. If a line with the same number
                # took its place (the cloud replaced the instance), carry on there.
                replacement = self.lines.find(line.phone)
                budget = deadline - time.monotonic()
                if replacement is None or replacement is line or budget <= 0:
                    raise
                line = replacement

    def _sent_key(self, line: LineConnection, idempotency_key: str) -> str:
        return f"{line.phone}:{idempotency_key}"

    def _send_message(self, line: LineConnection, reservation: Reservation, request: Any,
                      space: Space, timeout: float | None,
                      idempotency_key: str | None) -> Message:
        """A send that returns its message. With the caller's key, the state store
        remembers key -> guid, so that a repeat answered ``duplicateMessage`` (the original
        went through, maybe in another process) returns the original message
        (docs/behaviour.md, "Idempotency")."""
        deadline = self._deadline(timeout)
        try:
            response = self._reserved_call(line, reservation, request, timeout,
                                           idempotency_key)
        except AlreadySent as exc:
            if idempotency_key is None:
                raise  # without a client_message_id the service has no reason to say so
            return self._original_message(line, space, idempotency_key, exc, deadline)
        message = message_decoded_on_read(response.message, space)
        store = self.quotas.store
        if idempotency_key is not None and isinstance(store, SentRecords):
            key = self._sent_key(line, idempotency_key)
            self.monitor.guard("idempotency record",
                               lambda: store.set_sent(key, message.guid, SENT_TTL), None)
        return message

    def _original_message(self, line: LineConnection, space: Space, idempotency_key: str,
                          duplicate: AlreadySent, deadline: float) -> Message:
        """The message an earlier send with this key made, from the state store's record,
        else ``duplicate`` (outcome "sent") raised."""
        store, key = self.quotas.store, self._sent_key(line, idempotency_key)
        guid = (self.monitor.guard("idempotency record", lambda: store.get_sent(key), None)
                if isinstance(store, SentRecords) else None)
        if guid is None:
            duplicate.message += ("; the state store does not know its message (use a shared "
                                  "state= to find it from another process)")
            raise duplicate
        request = messages_pb2.GetMessageRequest(message_guid=guid)
        response = self._call(line, request, self._left(deadline))
        return message_decoded_on_read(response.message, space)

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

    def create_chat(self, addresses: Sequence[str], phone: str | None, *, service: str,
                    idempotency_key: str | None, timeout: float | None) -> Space:
        """A DM (one address) or group chat on the chosen line (CreateChat), on ``service``
        (iMessage unless the caller asked for SMS or RCS, as the official client sends)."""
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
        request = chats_pb2.CreateChatRequest(addresses=list(addresses),
                                              service=service_to_wire(service))
        deadline = self._deadline(timeout)
        try:
            chat = self._call(line, request, timeout, idempotency_key).chat
        except AlreadySent:
            if direct is None:
                raise  # a group made before: its guid is not known here
            # The DM was made before (duplicateMessage): it is the chat with that person.
            chat = self._call(line, chats_pb2.GetChatRequest(chat_guid=direct),
                              self._left(deadline)).chat
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
        line = self._lookup_line(timeout)
        request = addresses_pb2.GetAddressInfoRequest(address=address)
        try:
            response = self._call(line, request, timeout)
        except NotFoundError:
            return None
        return user_from_info(response.info)

    # ----- SpaceOperations ------------------------------------------------------------

    def send_text(
        self, space: Space, text: str, *, reply_to: str | None, effect: str | None,
        subject: str | None, formatting: tuple[TextFormat, ...] = (),
        idempotency_key: str | None, timeout: float | None, reply_part: int | None = None,
        link_preview: bool = False,
    ) -> Message:
        deadline = self._deadline(timeout)
        line = self.line(space.phone, timeout)
        # Shared numbers are unknown: only the server can tell whether a quota is spent.
        reservation = self.quotas.reserve(line.phone, space.id, enforce=not line.shared,
                                          deadline=deadline)
        request = messages_pb2.SendTextMessageRequest(
            chat_guid=space.id, text=text, subject=subject, effect_id=effect,
            enable_link_preview=link_preview or None)
        if formatting:
            request.formatting.extend(formatting_to_wire(formatting))
        if reply_to:
            request.reply_to.message_guid = reply_to
            if reply_part is not None:
                request.reply_to.target_part_index = reply_part
        return self._send_message(line, reservation, request, space, self._left(deadline),
                                  idempotency_key)

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
        # The service lists the line's own number too; the caller wants the other people.
        return fresh, [user_from_info(p) for p in chat.participants if p.address != line.phone]

    @staticmethod
    def _target(message: Message, part: int | None = None) -> messages_pb2.MessageTarget:
        target = messages_pb2.MessageTarget(chat_guid=message.space.id,
                                            message_guid=message.guid)
        if part is not None:
            target.target_part_index = part
        return target

    def edit(self, message: Message, text: str, *, part: int | None = None,
             idempotency_key: str | None, timeout: float | None) -> Message:
        line = self.line(message.space.phone, timeout)
        request = messages_pb2.EditMessageRequest(target=self._target(message, part),
                                                  new_text=text)
        deadline = self._deadline(timeout)
        try:
            response = self._call(line, request, timeout, idempotency_key)
        except AlreadySent:
            # The edit was made before (duplicateMessage): the message as it is now.
            response = self._call(line, messages_pb2.GetMessageRequest(
                message_guid=message.guid), self._left(deadline))
        return message_decoded_on_read(response.message, message.space)

    def unsend(self, message: Message, *, part: int | None = None,
               idempotency_key: str | None, timeout: float | None) -> None:
        line = self.line(message.space.phone, timeout)
        request = messages_pb2.UnsendMessageRequest(target=self._target(message, part))
        self._call(line, request, timeout, idempotency_key)

    def react(self, message: Message, reaction: str, on: bool, *, part: int | None = None,
              idempotency_key: str | None, timeout: float | None) -> None:
        line = self.line(message.space.phone, timeout)
        request = messages_pb2.SetReactionRequest(
            target=self._target(message, part), reaction=reaction_to_wire(reaction), is_set=on)
        # duplicateMessage: this reaction was set (or removed) before: done.
        with contextlib.suppress(AlreadySent):
            self._call(line, request, timeout, idempotency_key)

    # ----- delivery state, stickers, embedded media, app cards, backgrounds -----------

    def refresh_message(self, message: Message, *, timeout: float | None) -> Message:
        """GetMessage on the message's line, in the message's space."""
        line = self.line(message.space.phone, timeout)
        response = self._call(line, messages_pb2.GetMessageRequest(message_guid=message.guid),
                              timeout)
        return message_decoded_on_read(response.message, message.space)

    def place_sticker(self, message: Message, source: FileSource, part: int | None,
                      placement: StickerPlacement, *, idempotency_key: str | None,
                      timeout: float | None) -> Message:
        """Upload the image, then PlaceSticker; returns the message with its stickers."""
        deadline = self._deadline(timeout)
        line = self.line(message.space.phone, timeout)
        info = self._upload(line, source, self._left(deadline))
        request = messages_pb2.PlaceStickerRequest(
            target=self._target(message, part),
            sticker=messages_pb2.AttachmentRef(attachment_guid=info.guid),
            placement=sticker_placement_to_wire(placement))
        # duplicateMessage: placed before; the message below shows it.
        with contextlib.suppress(AlreadySent):
            self._call(line, request, self._left(deadline), idempotency_key)
        # The answer is the sticker's own row; the caller wants the message it sits on.
        return self.refresh_message(message, timeout=self._left(deadline))

    def notify_anyway(self, message: Message, *, idempotency_key: str | None,
                      timeout: float | None) -> None:
        line = self.line(message.space.phone, timeout)
        request = messages_pb2.NotifySilencedMessageRequest(chat_guid=message.space.id,
                                                            message_guid=message.guid)
        self._call(line, request, timeout, idempotency_key)

    def embedded_media(self, message: Message, *, timeout: float | None) -> EmbeddedMedia:
        from .._feature_values import EmbeddedMedia

        line = self.line(message.space.phone, timeout)
        request = messages_pb2.GetEmbeddedMediaRequest(chat_guid=message.space.id,
                                                       message_guid=message.guid)
        media = self._call(line, request, timeout).media
        return EmbeddedMedia(data=bytes(media.data), mime_type=media.mime_type)

    def _card_message(self, response: Any, space: Space, target: str | None) -> Message:
        """A card's message with the session the service opened for it (update needs it)."""
        from .._wire.convert import app_card_from_proto

        message = message_from_proto(response.message, space)
        session = (response.mini_app_card_session
                   if response.HasField("mini_app_card_session") else None)
        card = message.app_card
        if session is not None and response.message.content.HasField("mini_app"):
            card = app_card_from_proto(response.message.content.mini_app,
                                       session.target_message_guid or target or message.guid)
            card = attrs.evolve(card, session_id=session.session_id or card.session_id)
        return attrs.evolve(message, app_card=card)

    def send_app_card(self, space: Space, card: AppCard, *, idempotency_key: str | None,
                      timeout: float | None) -> Message:
        line = self.line(space.phone, timeout)
        reservation = self.quotas.reserve(line.phone, space.id, enforce=not line.shared)
        request = messages_pb2.SendCustomizedMiniAppMessageRequest(
            chat_guid=space.id, **app_card_to_wire(card))
        response = self._reserved_call(line, reservation, request, timeout, idempotency_key)
        return self._card_message(response, space, None)

    def update_app_card(self, message: Message, card: AppCard, *,
                        idempotency_key: str | None, timeout: float | None) -> Message:
        line = self.line(message.space.phone, timeout)
        session = messages_pb2.MiniAppCardSession(
            message_guid=message.guid, chat_guid=message.space.id,
            session_id=card.session_id or "", target_message_guid=card.target_guid or message.guid)
        request = messages_pb2.UpdateCustomizedMiniAppMessageRequest(
            session=session, **app_card_to_wire(card))
        response = self._call(line, request, timeout, idempotency_key)
        return self._card_message(response, message.space, card.target_guid)

    def set_background(self, space: Space, data: bytes | None, *,
                       timeout: float | None) -> None:
        line = self.line(space.phone, timeout)
        request: Any = (chats_pb2.RemoveBackgroundRequest(chat_guid=space.id) if data is None
                        else chats_pb2.SetBackgroundRequest(chat_guid=space.id, data=data))
        self._call(line, request, timeout)

    def has_background(self, space: Space, *, timeout: float | None) -> bool:
        line = self.line(space.phone, timeout)
        request = chats_pb2.HasBackgroundRequest(chat_guid=space.id)
        return bool(self._call(line, request, timeout).background_present)

    def chat_count(self, include_archived: bool, phone: str | None,
                   timeout: float | None) -> int:
        """GetChatCount on the named line, else summed over every line."""
        deadline = self._deadline(timeout)
        request = chats_pb2.GetChatCountRequest(include_archived=include_archived)
        return sum(int(self._call(line, request, self._left(deadline)).count)
                   for line in self.lines_for(phone, timeout))

    # ----- rich messaging: files, multipart, history, groups, polls --------------------

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (self.invoker.default_timeout if timeout is None else timeout)

    @staticmethod
    def _left(deadline: float) -> float:
        # A spent budget still makes one (instantly failing) attempt: the invoker then
        # reports the timeout with the call's name and key.
        return max(deadline - time.monotonic(), 0.001)

    def _upload(self, line: LineConnection, source: FileSource,
                timeout: float) -> attachments_pb2.AttachmentInfo:
        """UploadAttachment: the file goes straight into the request's buffer (see
        ``_wire/raw.py``), with a fresh idempotency key (a repeated upload is harmless)."""
        from .._wire.raw import upload_overhead, upload_request

        if source.size + upload_overhead(source.name) > MAX_PAYLOAD_BYTES:
            raise ValidationError(
                f"{source.label} is too large: with its name it passes the service's 100 MiB "
                "message limit")
        request = upload_request(source.name, source.size, source.read_into)
        info: attachments_pb2.AttachmentInfo = self._call(line, request, timeout).attachment
        return info

    def _send_built(
        self, space: Space, build: Callable[[LineConnection, float], Any],
        idempotency_key: str | None, timeout: float | None,
    ) -> Message:
        """A send whose request needs work first (uploads): quota reserved before that work,
        so a spent quota refuses the send before any file travels, and given back if the
        work fails; ``build(line, deadline)`` makes the request within the call's budget."""
        deadline = self._deadline(timeout)
        line = self.line(space.phone, timeout)
        reservation = self.quotas.reserve(line.phone, space.id, enforce=not line.shared,
                                          deadline=deadline)
        try:
            request = build(line, deadline)
        except BaseException:
            reservation.release()
            raise
        return self._send_message(line, reservation, request, space, self._left(deadline),
                                  idempotency_key)

    def send_file(
        self, space: Space, source: FileSource, *, audio: bool, reply_to: str | None,
        effect: str | None, idempotency_key: str | None, timeout: float | None,
    ) -> Message:
        def build(line: LineConnection, deadline: float) -> Any:
            info = self._upload(line, source, self._left(deadline))
            request = messages_pb2.SendAttachmentMessageRequest(
                chat_guid=space.id,
                attachment=messages_pb2.AttachmentRef(attachment_guid=info.guid),
                effect_id=effect)
            if audio:
                request.is_audio_message = True
            if reply_to:
                request.reply_to.message_guid = reply_to
            return request

        return self._send_built(space, build, idempotency_key, timeout)

    def send_parts(
        self, space: Space, parts: Sequence[Part], *, reply_to: str | None,
        effect: str | None, subject: str | None, idempotency_key: str | None,
        timeout: float | None,
    ) -> Message:
        from .._attachments import FileSource

        def build(line: LineConnection, deadline: float) -> Any:
            wire: list[messages_pb2.MessagePart] = []
            for index, part in enumerate(parts):
                # One bubble per part, in order, as the official provider sends them.
                if isinstance(part.value, FileSource):
                    info = self._upload(line, part.value, self._left(deadline))
                    wire.append(messages_pb2.MessagePart(
                        attachment=messages_pb2.AttachmentRef(
                            attachment_guid=info.guid, attachment_name=part.value.name),
                        bubble_index=index))
                    continue
                piece = messages_pb2.MessagePart(text=part.value, bubble_index=index,
                                                 formatting=formatting_to_wire(part.formatting))
                if part.address is not None:
                    piece.mentioned_address = part.address
                wire.append(piece)
            request = messages_pb2.SendMultipartMessageRequest(
                chat_guid=space.id, parts=wire, subject=subject, effect_id=effect)
            if reply_to:
                request.reply_to.message_guid = reply_to
            return request

        return self._send_built(space, build, idempotency_key, timeout)

    def attachment_info(self, space: Space, guid: str, *, timeout: float | None) -> Attachment:
        line = self.line(space.phone, timeout)
        request = attachments_pb2.GetAttachmentInfoRequest(attachment_guid=guid)
        return attachment_from_info(self._call(line, request, timeout).attachment, space)

    def download_attachment(self, space: Space, guid: str, write: Callable[[bytes], object],
                            *, timeout: float | None) -> Attachment:
        """DownloadAttachment: each chunk goes to ``write`` as it arrives. A failure before
        the first byte is retried within the deadline when safe (never sent, or marked
        retryable); once bytes were written it is raised (the caller discards them)."""
        from .._backoff import jittered
        from .._wire.errors import classify

        deadline = self._deadline(timeout)
        line = self.line(space.phone, timeout)
        request = attachments_pb2.DownloadAttachmentRequest(attachment_guid=guid)
        attempt = 0
        while True:
            header: attachments_pb2.AttachmentInfo | None = None
            written = 0
            stream = self.invoker.open_stream(line, request, timeout=self._left(deadline))
            try:
                for frame in stream:
                    which = frame.WhichOneof("payload")
                    if which == "primary_chunk":
                        chunk = frame.primary_chunk
                        write(chunk)
                        written += len(chunk)
                    elif which == "header":
                        header = frame.header.attachment
                    # companion_chunk: a Live Photo's video, not part of the file itself
            except grpc.RpcError as exc:
                if self.closed:
                    raise ClientClosed("the client is closed") from None
                failure = classify(exc)
                error = failure.error
                error.outcome = "rejected" if failure.from_service else "unknown"
                pause = jittered(attempt, 0.05, 1.0)
                safe = failure.never_sent or error.retryable
                if written or not safe or time.monotonic() + pause >= deadline:
                    raise error from None
                attempt += 1
                time.sleep(pause)
                continue
            finally:
                stream.cancel()  # a no-op once the stream ended; frees it if we stopped early
            break
        if header is None:
            raise SpectrumError(f"the download of attachment {guid!r} came without its "
                                "description", code="internalError")
        if header.total_bytes and written != header.total_bytes:
            raise SpectrumError(
                f"the download of attachment {guid!r} ended after {written} of "
                f"{header.total_bytes} bytes", code="incompleteDownload", retryable=True)
        return attachment_from_info(header, space)

    def share_contact(self, space: Space, *, idempotency_key: str | None,
                      timeout: float | None) -> None:
        line = self.line(space.phone, timeout)
        self._call(line, chats_pb2.ShareContactInfoRequest(chat_guid=space.id), timeout,
                   idempotency_key)

    def history_page(
        self, space: Space, *, page_size: int, page_token: str | None,
        before: datetime | None, after: datetime | None, timeout: float | None,
    ) -> tuple[list[Message], str | None]:
        line = self.line(space.phone, timeout)
        request = messages_pb2.ListChatMessagesRequest(
            chat_guid=space.id, page_size=page_size, page_token=page_token)
        if before is not None:
            request.before.CopyFrom(datetime_to_wire(before))
        if after is not None:
            request.after.CopyFrom(datetime_to_wire(after))
        response = self._call(line, request, timeout)
        token = response.next_page_token if response.HasField("next_page_token") else None
        return [message_from_proto(m, space) for m in response.messages], token

    # groups

    def _group_line(self, space: Space, feature: str,
                    timeout: float | None) -> LineConnection:
        """The space's line, or UnsupportedError for a DM or the shared pool."""
        self.ready(timeout)
        mode = self.mode
        if mode == "shared":
            raise UnsupportedError(feature, mode, "groups are managed on dedicated lines")
        if space.type != GROUP:
            raise UnsupportedError(feature, mode, f"{space.id} is a direct chat, not a group")
        return self.line(space.phone, timeout)

    def _group_space(self, space: Space, chat: chats_pb2.Chat) -> Space:
        return self.space(chat.guid or space.id, GROUP, space.phone, _display_name(chat))

    def rename_group(self, space: Space, name: str, *, idempotency_key: str | None,
                     timeout: float | None) -> Space:
        from .._proto import groups_pb2

        line = self._group_line(space, "renaming a group", timeout)
        request = groups_pb2.SetDisplayNameRequest(chat_guid=space.id, display_name=name)
        return self._group_space(space, self._call(line, request, timeout,
                                                   idempotency_key).chat)

    def change_members(self, space: Space, addresses: list[str], add: bool, *,
                       idempotency_key: str | None, timeout: float | None) -> Space:
        from .._proto import groups_pb2

        feature = "adding group members" if add else "removing group members"
        line = self._group_line(space, feature, timeout)
        kind = groups_pb2.AddParticipantsRequest if add else groups_pb2.RemoveParticipantsRequest
        request = kind(chat_guid=space.id, addresses=addresses)
        return self._group_space(space, self._call(line, request, timeout,
                                                   idempotency_key).chat)

    def leave_group(self, space: Space, *, idempotency_key: str | None,
                    timeout: float | None) -> None:
        from .._proto import groups_pb2

        line = self._group_line(space, "leaving a group", timeout)
        self._call(line, groups_pb2.LeaveGroupRequest(chat_guid=space.id), timeout,
                   idempotency_key)

    def set_group_icon(self, space: Space, data: bytes | None, *,
                       idempotency_key: str | None, timeout: float | None) -> None:
        from .._proto import groups_pb2

        line = self._group_line(space, "group icons", timeout)
        request: Any = (groups_pb2.RemoveIconRequest(chat_guid=space.id) if data is None
                        else groups_pb2.SetIconRequest(chat_guid=space.id, data=data))
        self._call(line, request, timeout, idempotency_key)

    def group_icon(self, space: Space, *, timeout: float | None) -> bytes | None:
        from .._proto import groups_pb2

        line = self._group_line(space, "group icons", timeout)
        try:
            response = self._call(line, groups_pb2.GetIconRequest(chat_guid=space.id), timeout)
        except NotFoundError as exc:
            if exc.code == "groupIconNotFound":
                return None
            raise
        return Icon(response.data, response.mime_type)

    # polls

    def create_poll(self, space: Space, title: str, options: list[str], *,
                    idempotency_key: str | None, timeout: float | None) -> Poll:
        from .._proto import polls_pb2

        deadline = self._deadline(timeout)
        line = self.line(space.phone, timeout)
        # A poll is a message in the chat: it counts like one.
        reservation = self.quotas.reserve(line.phone, space.id, enforce=not line.shared,
                                          deadline=deadline)
        request = polls_pb2.CreatePollRequest(chat_guid=space.id, title=title, options=options)
        response = self._reserved_call(line, reservation, request, self._left(deadline),
                                       idempotency_key)
        return poll_from_proto(response.poll, space)

    def get_poll(self, space: Space, guid: str, *, timeout: float | None) -> Poll:
        from .._proto import polls_pb2

        line = self.line(space.phone, timeout)
        response = self._call(line, polls_pb2.GetPollRequest(poll_message_guid=guid), timeout)
        return poll_from_proto(response.poll, space)

    def change_poll(self, poll: Poll, action: str, value: str | None, *,
                    idempotency_key: str | None, timeout: float | None) -> Poll:
        from .._proto import polls_pb2

        line = self.line(poll.space.phone, timeout)
        request: Any
        if action == "vote":
            request = polls_pb2.VotePollRequest(poll_message_guid=poll.guid,
                                                option_identifier=value or "")
        elif action == "unvote":
            request = polls_pb2.UnvotePollRequest(poll_message_guid=poll.guid)
        else:
            request = polls_pb2.AddPollOptionRequest(poll_message_guid=poll.guid,
                                                     option_text=value or "")
        response = self._call(line, request, timeout, idempotency_key)
        return poll_from_proto(response.poll, poll.space)

    # lookups that belong to no space (client.message, client.recent, addresses)

    def _lookup_line(self, timeout: float | None) -> LineConnection:
        self.ready(timeout)
        return self.lines.only() or self.lines.pick()

    def imessage_available(self, address: str, timeout: float | None) -> bool:
        """GetIMessageAvailability on some line."""
        line = self._lookup_line(timeout)
        request = addresses_pb2.GetIMessageAvailabilityRequest(address=address)
        return bool(self._call(line, request, timeout).is_available)

    def focus_silenced(self, address: str, timeout: float | None) -> bool:
        """GetFocusStatus on some line: whether Focus silences ``address``."""
        line = self._lookup_line(timeout)
        request = addresses_pb2.GetFocusStatusRequest(address=address)
        return bool(self._call(line, request, timeout).is_silenced_by_focus)

    # friend locations (Find My)

    def _location_line(self, phone: str | None, timeout: float | None) -> LineConnection:
        """The named line, else the only one: locations belong to one line's account."""
        self.ready(timeout)
        if phone is not None:
            return self.lines.get(phone)
        only = self.lines.only()
        if only is None:
            raise RoutingError("several lines share locations: pass phone=", self.lines.phones)
        return only

    def friend_locations(self, address: str | None, phone: str | None,
                         timeout: float | None) -> list[FriendLocation]:
        """Every location shared with the line, or ``address``'s alone (empty when that
        friend shares none: ``sharedFriendLocationNotFound``)."""
        from .._proto import locations_pb2

        line = self._location_line(phone, timeout)
        if address is None:
            response = self._call(line, locations_pb2.ListSharedFriendLocationsRequest(),
                                  timeout)
            return [location_from_proto(loc, line.phone) for loc in response.locations]
        request = locations_pb2.GetSharedFriendLocationRequest(address=address)
        try:
            response = self._call(line, request, timeout)
        except NotFoundError as exc:
            if exc.code == "sharedFriendLocationNotFound":
                return []
            raise
        return [location_from_proto(response.location, line.phone)]

    def request_location(self, space: Space, address: str, *, idempotency_key: str | None,
                         timeout: float | None) -> LocationRequest:
        """RequestFriendLocationSharing: a Find My request card to ``address`` in ``space``."""
        from .._feature_values import LocationRequest
        from .._proto import locations_pb2

        line = self.line(space.phone, timeout)
        request = locations_pb2.RequestFriendLocationSharingRequest(chat_guid=space.id,
                                                                    address=address)
        try:
            response = self._call(line, request, timeout, idempotency_key)
        except AlreadySent:
            return LocationRequest(address=address, status="sent")  # sent before
        return LocationRequest(
            address=response.address or address, status=response.status,
            reason=response.reason if response.HasField("reason") else None,
            message_guid=response.message_guid if response.HasField("message_guid") else None)

    def watch_locations(self, address: str | None, phone: str | None
                        ) -> Iterator[FriendLocation]:
        """WatchSharedFriendLocations: updates as they come (heartbeats dropped), until the
        iterator is closed (or the stream ends: the feed has no replay)."""
        from .._proto import locations_pb2

        line = self._location_line(phone, None)
        request = locations_pb2.WatchSharedFriendLocationsRequest(address=address)
        try:
            stream = self.invoker.open_stream(line, request)
        except grpc.RpcError as exc:
            raise classify(exc).error from None
        return _location_updates(stream, line.phone)

    def lines_for(self, phone: str | None, timeout: float | None) -> list[LineConnection]:
        """The named line, else every line (sorted by number)."""
        self.ready(timeout)
        if phone is not None:
            return [self.lines.get(phone)]
        return sorted(self.lines.all(), key=lambda line: line.phone)

    def _message_space(self, message: messages_pb2.Message,
                       line: LineConnection) -> Space | None:
        """The space of a message read outside any chat (by guid, or a recent list); None
        when the server names no chat and the message names no sender to guess it from."""
        if message.chat_guids:
            guid = message.chat_guids[0]
        elif message.HasField("sender") and message.sender.address and not message.is_from_me:
            guid = dm_guid(message.sender.address)
        else:
            return None
        return self.space(guid, space_type(guid), line.phone)

    def get_message(self, guid: str, phone: str | None, timeout: float | None) -> Message:
        """GetMessage on the named line, else on each line until one holds it."""
        request = messages_pb2.GetMessageRequest(message_guid=guid)
        missing: NotFoundError | None = None
        deadline = self._deadline(timeout)
        for line in self.lines_for(phone, timeout):
            try:
                found = self._call(line, request, self._left(deadline)).message
            except NotFoundError as exc:
                missing = exc
                continue
            space = self._message_space(found, line)
            if space is None:
                raise SpectrumError(f"the server did not say which chat holds message "
                                    f"{guid!r}", code="internalError")
            return message_decoded_on_read(found, space)
        assert missing is not None  # lines_for never returns an empty list
        raise missing

    def recent_pagers(self, phone: str | None, timeout: float | None) -> list[Pager]:
        """A pager of ListRecentMessages per line (the named one, else every line)."""
        return [functools.partial(self.recent_page, line, timeout=timeout)
                for line in self.lines_for(phone, timeout)]

    def recent_page(self, line: LineConnection, page_size: int, page_token: str | None,
                    timeout: float | None) -> tuple[list[Message], str | None]:
        """One page of ListRecentMessages on ``line``, newest first."""
        request = messages_pb2.ListRecentMessagesRequest(page_size=page_size,
                                                         page_token=page_token)
        response = self._call(line, request, timeout)
        token = response.next_page_token if response.HasField("next_page_token") else None
        out = []
        for message in response.messages:
            space = self._message_space(message, line)
            if space is None:  # nowhere to reply to: of no use in a list of conversations
                log.debug("recent message %s names no chat; skipped", message.guid)
                continue
            out.append(message_from_proto(message, space))
        return out, token

    def close(self) -> None:
        self.closed = True
        self.lines.close()


def _location_updates(stream: Any, phone: str) -> Iterator[FriendLocation]:
    """The location frames of a watch stream; closing the iterator cancels the call."""
    try:
        for frame in stream:
            if frame.WhichOneof("payload") == "location_updated":
                yield location_from_proto(frame.location_updated.location, phone)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.CANCELLED:
            raise classify(exc).error from None
    finally:
        stream.cancel()


def _display_name(chat: chats_pb2.Chat) -> str | None:
    return chat.display_name if chat.HasField("display_name") else None
