"""Protobuf messages <-> the public types (users, messages, reactions, polls, locations).

With ``events.py`` (the change events of the streams, which only receiving loads), the only
module that builds public types from wire types, or wire types from user input (reactions).
Decoding is on the receive hot path: no copies, no reflection beyond
``WhichOneof``/``HasField``. A process that only sends loads neither the event classes nor
the groups, polls and locations modules (bench/oneshot.py: their import is most of a
one-shot script's cost).
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

import attrs
from google.protobuf.timestamp_pb2 import Timestamp

from .._models import NOT_A_FIELD, Attachment, Message, Reaction, Space
from .._proto import attachments_pb2, common_pb2, messages_pb2
from .._values import Mention, Receipt, TextFormat, User

# The rarer features' values are named here for annotations and made in the functions that
# need them, on first use (a plain send needs none of them: _feature_values.py).
if TYPE_CHECKING:
    from .._app_cards import AppCard
    from .._events import StickerPlaced
    from .._feature_values import FriendLocation, PollOption, StickerPlacement
    from .._polls import Poll
    from .._proto import locations_pb2, polls_pb2

__all__ = [
    "app_card_to_wire",
    "attachment_from_info",
    "datetime_to_wire",
    "emoji_from_wire",
    "formatting_to_wire",
    "location_from_proto",
    "message_decoded_on_read",
    "message_from_proto",
    "poll_from_proto",
    "reaction_to_wire",
    "service_to_wire",
    "sticker_placement_to_wire",
    "user_from_info",
]

_UTC = timezone.utc

log = logging.getLogger("spectrum_sync")


def _noop() -> None:
    pass


# ----- users -------------------------------------------------------------------------------

_SERVICE_PREFERENCE = (
    (common_pb2.CHAT_SERVICE_TYPE_IMESSAGE, "iMessage"),
    (common_pb2.CHAT_SERVICE_TYPE_SMS, "SMS"),
    (common_pb2.CHAT_SERVICE_TYPE_RCS, "RCS"),
)


def service_name(services: Sequence[int]) -> str:
    """iMessage if offered, else SMS, else RCS, else "unknown"."""
    for kind, name in _SERVICE_PREFERENCE:
        if kind in services:
            return name
    return "unknown"


def service_to_wire(name: str) -> int:
    """The ``ChatServiceType`` of a service name ("iMessage", "SMS", "RCS")."""
    for kind, known in _SERVICE_PREFERENCE:
        if known == name:
            return kind
    raise ValueError(f"unknown chat service {name!r}")


def user_from_info(
    info: common_pb2.SingleServiceAddressInfo | common_pb2.MultiServiceAddressInfo,
    fallback_country: str | None = None,
) -> User:
    """A :class:`User` from a single- or multi-service address description."""
    if isinstance(info, common_pb2.MultiServiceAddressInfo):
        service = service_name(list(info.services))
    else:
        service = service_name([info.service])
    country = info.country if info.HasField("country") else fallback_country
    return User(address=info.address, country=country, service=service)


# ----- reactions ---------------------------------------------------------------------------

_R = messages_pb2
_KIND_BY_EMOJI = {
    "❤️": _R.MESSAGE_REACTION_KIND_LOVE,
    "❤": _R.MESSAGE_REACTION_KIND_LOVE,
    "👍": _R.MESSAGE_REACTION_KIND_LIKE,
    "👎": _R.MESSAGE_REACTION_KIND_DISLIKE,
    "😂": _R.MESSAGE_REACTION_KIND_LAUGH,
    "‼️": _R.MESSAGE_REACTION_KIND_EMPHASIZE,
    "‼": _R.MESSAGE_REACTION_KIND_EMPHASIZE,
    "❓": _R.MESSAGE_REACTION_KIND_QUESTION,
}
_EMOJI_BY_KIND = {
    _R.MESSAGE_REACTION_KIND_LOVE: "❤️",
    _R.MESSAGE_REACTION_KIND_LIKE: "👍",
    _R.MESSAGE_REACTION_KIND_DISLIKE: "👎",
    _R.MESSAGE_REACTION_KIND_LAUGH: "😂",
    _R.MESSAGE_REACTION_KIND_EMPHASIZE: "‼️",
    _R.MESSAGE_REACTION_KIND_QUESTION: "❓",
}


def reaction_to_wire(emoji: str) -> messages_pb2.MessageReaction:
    """The wire reaction for a validated emoji: a classic tapback kind, else EMOJI.

    LOVE is kind 0 (there is no UNSPECIFIED), so it is absent on the wire."""
    kind = _KIND_BY_EMOJI.get(emoji)
    if kind is not None:
        return messages_pb2.MessageReaction(kind=kind)
    return messages_pb2.MessageReaction(kind=_R.MESSAGE_REACTION_KIND_EMOJI, emoji=emoji)


def emoji_from_wire(reaction: messages_pb2.MessageReaction) -> str:
    """The emoji of a wire reaction ("" for a sticker)."""
    if reaction.kind == _R.MESSAGE_REACTION_KIND_EMOJI or reaction.HasField("emoji"):
        return reaction.emoji
    return _EMOJI_BY_KIND.get(reaction.kind, "")


# ----- messages ----------------------------------------------------------------------------


#: The last timestamp converted, as (seconds, nanos, datetime): a message's creation and
#: delivery times are usually the same instant, and datetimes are immutable values.
_last_stamp: tuple[int, int, datetime] = (0, 0, datetime.fromtimestamp(0, timezone.utc))


def _stamp(stamp: Any) -> datetime:
    """A wire Timestamp as an aware UTC datetime, in one C call rather than the protobuf
    helper's Python-level arithmetic: this runs for every received event. (A double holds
    today's epoch seconds to well under a microsecond.)"""
    global _last_stamp
    seconds, nanos = stamp.seconds, stamp.nanos
    last = _last_stamp  # one read of a tuple: safe from any thread
    if last[0] == seconds and last[1] == nanos:
        return last[2]
    moment = datetime.fromtimestamp(seconds + nanos * 1e-9, _UTC)
    _last_stamp = (seconds, nanos, moment)
    return moment


_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)


def datetime_to_wire(moment: datetime) -> Timestamp:
    """An aware datetime as a wire Timestamp (to the microsecond)."""
    delta = moment - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return Timestamp(seconds=seconds, nanos=delta.microseconds * 1000)


def _when(message: Any, field: str) -> datetime | None:
    return _stamp(getattr(message, field)) if message.HasField(field) else None


def _opt(message: Any, field: str) -> str | None:
    return getattr(message, field) if message.HasField(field) else None


@functools.lru_cache(maxsize=4096)
def _sender(address: str, service: int, country: str | None) -> User:
    # Senders repeat: one User value per (address, service, country) is enough.
    return User(address=address, country=country, service=service_name((service,)))


def _user(info: common_pb2.SingleServiceAddressInfo) -> User:
    return _sender(info.address, info.service,
                   info.country if info.HasField("country") else None)


def message_from_proto(
    message: messages_pb2.Message, space: Space, *, sequence: int = 0,
    receipt: Receipt = _noop, actor_of: Any = None,
) -> Message:
    """A :class:`Message` in ``space`` from a wire ``Message``, every field decoded
    (``actor_of``: a change event whose ``actor`` names the sender when the message itself
    does not). A message read from a stream, or a call's answer about one message, is made
    by :func:`message_decoded_on_read` instead."""
    values: dict[str, Any] = {}
    for names, read in _GROUPS:
        values.update(_read_group(names, read, message, space, actor_of))
    return Message(guid=message.guid, space=space, is_from_me=message.is_from_me,
                   sequence=sequence, receipt=receipt, **values)


def message_decoded_on_read(
    message: messages_pb2.Message, space: Space, *, sequence: int = 0,
    receipt: Receipt = _noop, actor_of: Any = None,
) -> Message:
    """A :class:`Message` from a wire ``Message`` that nothing changes afterwards (a stream's
    frame, a call's answer about one message): what the receive pipeline reads is set now
    (``guid``, ``space``, ``is_from_me``), the other fields are decoded when first read
    (docs/architecture.md, "Decoding on first read").

    Decoding every field of every event was the largest cost of receiving: about 40 C
    calls into the wire message, and the frozen class's ``__init__``, which sets 40 fields
    one call at a time, most of them to their default. A handler reads a few fields; it
    now pays for those, and a send's caller, who mostly reads the guid, too. The wire
    message is never changed after it is read, so decoding later gives what decoding now
    would. A listing's messages are decoded at once (:func:`message_from_proto`): each
    would otherwise keep the whole answer alive."""
    made: Message = _new(Message)
    _set(made, "guid", message.guid)
    _set(made, "space", space)
    _set(made, "is_from_me", message.is_from_me)
    _set(made, "sequence", sequence)
    _set(made, "_receipt", receipt)
    _set(made, "_wire", _WireFields(message, actor_of))
    return made


_new = object.__new__
_set = object.__setattr__

#: A group's reader: (wire message, space, actor_of) -> the group's fields that are not at
#: their default, as ``Message`` keywords.
_GroupReader = Callable[[Any, Space, Any], dict[str, Any]]


def _content_fields(m: Any, space: Space, actor_of: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    text = _read_content(m.content, space, values)
    if text is not None:
        values["text"] = text
    return values


def _party_fields(m: Any, space: Space, actor_of: Any) -> dict[str, Any]:
    wire_sender = m.sender if m.HasField("sender") else None
    values: dict[str, Any] = {"service": _message_service(wire_sender, space)}
    if not m.is_from_me:
        if wire_sender is not None:
            values["sender"] = _user(wire_sender)
        elif actor_of is not None and actor_of.HasField("actor"):
            values["sender"] = _user(actor_of.actor)
    return values


def _time_field(wire_field: str, name: str) -> _GroupReader:
    """The reader of one timestamp: ``name`` from the wire's ``wire_field`` (None if unset)."""
    return lambda m, space, actor_of: {name: _when(m, wire_field)}


def _state_fields(m: Any, space: Space, actor_of: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if m.is_delivered:
        values["is_delivered"] = True
    if m.HasField("destination_caller_id"):
        values["destination"] = m.destination_caller_id
    _read_rare(m, space, values)
    return values


#: The fields ``message_decoded_on_read`` sets at once; every other field of ``Message`` is
#: in one group of ``_GROUPS``.
_EAGER = frozenset({"guid", "space", "is_from_me", "sequence", "_receipt", "_wire"})
_OWN_GROUPS: tuple[tuple[tuple[str, ...], _GroupReader], ...] = (
    (("text", "attachments", "formatting", "mentions", "effect", "balloon_bundle_id",
      "app_card"), _content_fields),
    (("sender", "service"), _party_fields),
    (("created_at",), _time_field("date_created", "created_at")),
    (("delivered_at",), _time_field("date_delivered", "delivered_at")),
)
_NAMED = _EAGER.union(*(names for names, _ in _OWN_GROUPS))
#: A ``Message``'s fields, decoded together by group: a group is read whole when one of its
#: fields is first read; the last group (delivery state and the rarer fields) holds the rest.
_GROUPS: tuple[tuple[tuple[str, ...], _GroupReader], ...] = (
    *_OWN_GROUPS,
    (tuple(f.name for f in attrs.fields(Message) if f.name not in _NAMED), _state_fields))
_GROUP_OF = {name: group for group in _GROUPS for name in group[0]}
_DEFAULTS = {f.name: f.default for f in attrs.fields(Message) if f.name in _GROUP_OF}


def _read_group(names: tuple[str, ...], read: _GroupReader, m: Any, space: Space,
                actor_of: Any) -> dict[str, Any]:
    """The fields of one group. A group the wire message does not let us decode (a
    timestamp out of range...) keeps its defaults, and the log says so: the message is
    delivered all the same (docs/behaviour.md, "Receiving")."""
    try:
        return read(m, space, actor_of)
    except Exception:
        log.warning("could not decode %s of message %r on %s: left at the default",
                    ", ".join(names), m.guid, space.phone, exc_info=True)
        return {}


class _WireFields:
    """The wire message a received :class:`Message` decodes its fields from
    (:class:`~spectrum_sync._models.WireFields`)."""

    __slots__ = ("actor_of", "message")

    def __init__(self, message: Any, actor_of: Any) -> None:
        self.message = message
        self.actor_of = actor_of

    def fill(self, target: Message, name: str) -> Any:
        group = _GROUP_OF.get(name)
        if group is None:
            return NOT_A_FIELD
        names, read = group
        values = _read_group(names, read, self.message, target.space, self.actor_of)
        for field in names:
            _set(target, field, values.get(field, _DEFAULTS[field]))
        return values.get(name, _DEFAULTS[name])


def _read_content(content: Any, space: Space, rare: dict[str, Any]) -> str | None:
    """The content's text; its other set fields go into ``rare`` as ``Message`` keywords.
    The content has few of its fields set: one C call lists them (cheaper than asking for
    each of them)."""
    text = None
    for field, value in content.ListFields():
        name = field.name
        if name == "text":
            text = value
        else:
            read = _CONTENT_READERS.get(name)
            if read is not None:
                keyword, rare[keyword] = read(value, space)
    return text


#: Content fields other than the text: wire name -> (value, space) -> (keyword, value).
_CONTENT_READERS: dict[str, Callable[[Any, Space], tuple[str, Any]]] = {
    "attachments": lambda value, space: (
        "attachments", tuple(attachment_from_info(a, space) for a in value)),
    "formatting": lambda value, space: ("formatting", _formats(value)),
    "mentions": lambda value, space: ("mentions", tuple(
        Mention(address=x.address, start=x.start, length=x.length) for x in value)),
    "expressive_send_style_id": lambda value, space: ("effect", value),
    "balloon_bundle_id": lambda value, space: ("balloon_bundle_id", value),
    "mini_app": lambda value, space: ("app_card", app_card_from_proto(value)),
}


def _read_rare(m: Any, space: Space, rare: dict[str, Any]) -> None:
    """The delivery state and the rarer fields of a wire message, into ``rare``, each only
    when it is not at its default (docs/behaviour.md, "Delivery state")."""
    has = m.HasField
    if m.item_type:
        rare["item_type"] = _ITEM_TYPES.get(m.item_type, "unknown")
        rare["group_title"] = m.group_title if has("group_title") else None
        rare["chat_action"] = m.chat_action_type if has("chat_action_type") else None
    # Flags and counters are rare: one C call reads them all and decides, before any
    # per-field work.
    if any(_FLAG_VALUES(m)):
        rare["flags"] = frozenset(name for field, name in _FLAGS if getattr(m, field))
    if any(_STATE_VALUES(m)):
        for field, name in _STATE:
            value = getattr(m, field)
            if value:
                rare[name] = value
    for field, name in _OPTIONAL_TEXTS:
        if has(field):
            rare[name] = getattr(m, field)
    for field, name in _OPTIONAL_TIMES:
        if has(field):
            rare[name] = _stamp(getattr(m, field))
    if m.applied_reactions:
        rare["reactions"] = tuple(_applied(r, m.guid, space) for r in m.applied_reactions)
    if m.placed_stickers:
        rare["stickers"] = tuple(_placed(p, m.guid, space) for p in m.placed_stickers)
    part_count = m.part_count
    if part_count and part_count != 1:
        rare["part_count"] = part_count


_CHAT_SERVICES = {"imessage": "iMessage", "sms": "SMS", "rcs": "RCS"}


#: ``service_name`` of one service kind, as a lookup (this runs for every event).
_SERVICE_BY_KIND = {kind: service_name((kind,)) for kind, _ in _SERVICE_PREFERENCE}


def _message_service(
    wire_sender: common_pb2.SingleServiceAddressInfo | None, space: Space
) -> str | None:
    """The sender's service when the wire names one, else the one the chat guid names."""
    if wire_sender is not None:
        kind = wire_sender.service
        if kind:
            return _SERVICE_BY_KIND.get(kind, "unknown")
    return _CHAT_SERVICES.get(space.id.split(";", 1)[0].lower())


_ITEM_TYPES = {0: "normal", 1: "participant_change", 2: "group_name_change", 3: "chat_action"}
#: Wire flags of a message and the names ``Message.flags`` gives them.
_FLAGS = (
    ("is_auto_reply", "auto_reply"), ("is_system_message", "system"),
    ("is_forward", "forward"), ("is_delayed", "delayed"), ("is_spam", "spam"),
    ("data_detector_results_present", "data_detected"), ("is_archived", "archived"),
    ("is_service_message", "service_message"), ("is_corrupt", "corrupt"),
    ("is_expirable", "expirable"),
)
_FLAG_VALUES = operator.attrgetter(*(field for field, _ in _FLAGS))
#: Delivery state that is False or 0 in most messages (wire field, ``Message`` field).
_STATE = (
    ("is_audio_message", "is_audio"), ("is_sent", "is_sent"),
    ("is_delivered_quietly", "delivered_quietly"), ("did_notify_recipient", "notified"),
    ("send_error_code", "send_error_code"),
)
_STATE_VALUES = operator.attrgetter(*(field for field, _ in _STATE))
#: Optional text fields absent from most messages (wire field, ``Message`` field).
_OPTIONAL_TEXTS = (
    ("subject", "subject"), ("reply_target_guid", "reply_to_guid"),
    ("thread_originator_guid", "thread_originator_guid"),
)
#: Optional times absent from most messages (wire field, ``Message`` field).
_OPTIONAL_TIMES = (
    ("date_edited", "edited_at"), ("date_retracted", "retracted_at"),
    ("date_read", "read_at"), ("date_played", "played_at"),
    ("date_expressive_send_played", "effect_played_at"),
)


def _applied(r: messages_pb2.MessageAppliedReaction, guid: str, space: Space) -> Reaction:
    """A reaction applied to a message (``Message.reactions``)."""
    return Reaction(
        message_guid=r.message_guid or guid, emoji=emoji_from_wire(r.reaction), space=space,
        sender=_user(r.sender) if r.HasField("sender") and not r.is_from_me else None,
        is_from_me=r.is_from_me,
        part_index=r.target_part_index if r.HasField("target_part_index") else None,
        occurred_at=_when(r, "date_created"))


def _placed(p: messages_pb2.MessagePlacedSticker, guid: str, space: Space) -> StickerPlaced:
    """A sticker placed on a message (``Message.stickers``)."""
    # Here, not at the top: a sending process (no stickers) never loads the event classes.
    from .._events import StickerPlaced

    return StickerPlaced(
        message_guid=p.message_guid or guid, space=space,
        sender=_user(p.sender) if p.HasField("sender") and not p.is_from_me else None,
        is_from_me=p.is_from_me, occurred_at=_when(p, "date_created"),
        **_sticker_parts(p, space))


def _sticker_parts(body: Any, space: Space) -> dict[str, Any]:
    """Part index, image and placement of a placed sticker (event or aggregate)."""
    has = body.HasField
    placement = None
    if has("placement"):
        from .._feature_values import StickerPlacement

        p = body.placement
        placement = StickerPlacement(
            x=min(max(p.x, 0.0), 1.0), y=min(max(p.y, 0.0), 1.0),
            scale=p.scale if p.HasField("scale") and p.scale > 0 else None,
            rotation=p.rotation if p.HasField("rotation") else None,
            width=p.width if p.HasField("width") and p.width > 0 else None)
    return {"part_index": body.target_part_index if has("target_part_index") else None,
            "sticker": attachment_from_info(body.sticker, space) if has("sticker") else None,
            "placement": placement}


def sticker_placement_to_wire(placement: StickerPlacement) -> messages_pb2.StickerPlacement:
    """The wire placement of a validated :class:`StickerPlacement`."""
    wire = messages_pb2.StickerPlacement(x=placement.x, y=placement.y)
    for name in ("scale", "rotation", "width"):
        value = getattr(placement, name)
        if value is not None:
            setattr(wire, name, value)
    return wire


# ----- app cards ---------------------------------------------------------------------------

_LAYOUT_TEXT = ("caption", "subcaption", "trailing_caption", "trailing_subcaption",
                "image_title", "image_subtitle", "summary")


def app_card_from_proto(mini_app: messages_pb2.MiniAppContent,
                        target_guid: str | None = None) -> AppCard:
    """A received (or sent) card. A received layout is shown as is, so it is not held to
    the rules of an outgoing one: a layout that breaks them is left out."""
    from .._app_cards import AppCard, CardLayout
    from .._errors import ValidationError

    layout = None
    if mini_app.HasField("layout"):
        shown: Any = mini_app.layout
        values = {name: getattr(shown, name) for name in _LAYOUT_TEXT
                  if shown.HasField(name) and getattr(shown, name)}
        values.pop("image_title", None)  # the received layout carries no image bytes
        values.pop("image_subtitle", None)
        try:
            layout = CardLayout(**values)
        except ValidationError:
            layout = None
    return AppCard(team_id=mini_app.team_id, bundle_id=mini_app.extension_bundle_id,
                   app_name=_opt(mini_app, "app_name"), url=_opt(mini_app, "url"),
                   session_id=_opt(mini_app, "session_id"),
                   app_store_id=(mini_app.app_store_id if mini_app.HasField("app_store_id")
                                 else None), live=mini_app.live, layout=layout,
                   target_guid=target_guid)


def app_card_to_wire(card: AppCard) -> dict[str, Any]:
    """The fields a Send/UpdateCustomizedMiniAppMessageRequest shares, from a checked card."""
    assert card.layout is not None
    layout = messages_pb2.MiniAppLayout()
    for name in _LAYOUT_TEXT:
        value = getattr(card.layout, name)
        if value is not None:
            setattr(layout, name, value)
    if card.layout.image is not None:
        layout.image = card.layout.image
    out: dict[str, Any] = {"team_id": card.team_id, "extension_bundle_id": card.bundle_id,
                           "app_name": card.app_name or "", "url": card.url or "",
                           "layout": layout}
    if card.app_store_id is not None:
        out["app_store_id"] = card.app_store_id
    if card.live:
        out["live"] = True
    return out


# ----- attachments, formatting, polls ------------------------------------------------------

_TRANSFER_STATES = {
    attachments_pb2.TRANSFER_STATE_PENDING: "pending",
    attachments_pb2.TRANSFER_STATE_UNAVAILABLE: "unavailable",
    attachments_pb2.TRANSFER_STATE_TRANSFERRING: "transferring",
    attachments_pb2.TRANSFER_STATE_FAILED: "failed",
    attachments_pb2.TRANSFER_STATE_FINISHED: "finished",
    attachments_pb2.TRANSFER_STATE_UNKNOWN: "unknown",
}


def attachment_from_info(info: attachments_pb2.AttachmentInfo, space: Space) -> Attachment:
    """An :class:`Attachment` of ``space`` (whose line holds the file)."""
    return Attachment(guid=info.guid, file_name=info.file_name, mime_type=info.mime_type,
                      size=info.total_bytes, is_sticker=info.is_sticker, uti=info.uti or None,
                      transfer_state=_TRANSFER_STATES.get(info.transfer_state, "unknown"),
                      space=space)


def _formats(formats: Sequence[messages_pb2.TextFormat]) -> tuple[TextFormat, ...]:
    out = []
    for f in formats:
        try:
            out.append(TextFormat(f.type, f.start, f.length,
                                  f.effect_name if f.type == "effect" else None))
        except ValueError:
            continue  # a style this version does not know: the text still reads fine
    return tuple(out)


def formatting_to_wire(formats: Sequence[TextFormat]) -> list[messages_pb2.TextFormat]:
    """Wire ranges of validated :class:`TextFormat` values."""
    out = []
    for f in formats:
        wire = messages_pb2.TextFormat(type=f.type, start=f.start, length=f.length)
        if f.effect is not None:
            wire.effect_name = f.effect
        out.append(wire)
    return out


def poll_from_proto(info: polls_pb2.PollInfo, space: Space) -> Poll:
    """A :class:`~spectrum_sync._polls.Poll` of ``space`` with who voted for what."""
    from .._feature_values import PollVote
    from .._polls import Poll

    options = _poll_options(info.options)
    texts = {o.id: o.text for o in options}
    votes = tuple(
        PollVote(voter=_user(v.participant) if v.HasField("participant") else None,
                 option_id=v.option_identifier, option_text=texts.get(v.option_identifier))
        for v in info.votes)
    return Poll(guid=info.poll_message_guid, space=space, title=info.title, options=options,
                votes=votes)


def _poll_options(options: Sequence[polls_pb2.PollOption]) -> tuple[PollOption, ...]:
    from .._feature_values import PollOption

    return tuple(
        PollOption(id=o.option_identifier, text=o.text,
                   creator=o.creator_handle if o.HasField("creator_handle") else None)
        for o in options)


# ----- friend locations ----------------------------------------------------------------------

_LOCATION_KINDS = {1: "legacy", 2: "live", 3: "shallow"}


def location_from_proto(location: locations_pb2.SharedFriendLocation,
                        phone: str) -> FriendLocation:
    """A shared friend location as the public type (``phone``: the line it is shared with)."""
    from .._feature_values import FriendLocation

    has = location.HasField
    return FriendLocation(
        address=location.address, phone=phone, name=_opt(location, "name"),
        latitude=location.latitude if has("latitude") else None,
        longitude=location.longitude if has("longitude") else None,
        accuracy=location.accuracy if has("accuracy") else None,
        long_address=_opt(location, "long_address"),
        short_address=_opt(location, "short_address"),
        locating=location.is_locating_in_progress,
        kind=_LOCATION_KINDS.get(location.location_type, "unknown"),
        located_at=_when(location, "location_timestamp"),
        expires_at=_when(location, "expires_at"))
