"""The local backend: the Mac's own Messages account, without Spectrum Cloud.

Receiving reads Messages' chat.db (``_receive/local_feed.py``); sending drives Messages with
``osascript`` (``_local/applescript.py``). What Messages cannot be told to do from outside
(create chats, edit, unsend, react, reply, manage groups, polls) raises
:class:`~spectrum_sync.UnsupportedError` naming local mode and what to use instead. Failures of
the building blocks (:class:`~._local.errors.LocalError`) reach the user as the library's own
errors, with their hint. See docs/behaviour.md, "Local mode".
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, NoReturn

from .._addresses import GROUP, parse_chat_guid, space_type
from .._errors import (
    ClientClosed,
    ConfigurationError,
    ConnectionError,
    NotFoundError,
    RoutingError,
    SpectrumError,
    UnsupportedError,
    ValidationError,
)
from .._feature_values import EmbeddedMedia, FriendLocation, LineInfo, LocationRequest
from .._fork import ForkGuard
from .._local import errors as local_errors
from .._local.applescript import MessagesSender
from .._local.chatdb import ChatDB, LocalAttachment, LocalEvent
from .._local.convert import attachment_from_local, local_user, message_from_local
from .._models import Attachment, Message, Space
from .._values import TextFormat, User
from .base import Pager, SpaceMaker

if TYPE_CHECKING:
    from .._app_cards import AppCard
    from .._attachments import FileSource
    from .._feature_values import StickerPlacement
    from .._parts import Part
    from .._polls import Poll
    from .quotas import QuotaUsage

__all__ = ["LocalBackend", "translate"]

log = logging.getLogger("spectrum_sync.local")

MODE = "local"
#: How long a send waits for Messages to record it in chat.db (to return its guid).
ECHO_WAIT = 2.0
#: Idempotency keys remembered by one client (the most recent ones).
KEYS_REMEMBERED = 10_000
#: Rows a send looks through for its own (a busy chat.db must not keep it reading).
_SCAN_LIMIT = 5_000
_CHUNK = 256 * 1024
_OBJECT_REPLACEMENT = "\ufffc"  # the text of a message row that is only a file
_NO_HISTORY = ("Messages keeps the history in chat.db on this Mac; receiving starts from "
               "where it stands")
_GROUPS = "Messages' scripting cannot rename groups, change members, leave or set icons"
_POLLS = "Messages' scripting cannot create or answer polls"
_USE_GET = ("use client.space.get(chat_guid) with the guid of an existing chat (msg.space.id "
            "of a received message, or e.g. 'iMessage;-;+15551234567' for a person)")


def _unsupported(feature: str, reason: str) -> NoReturn:
    raise UnsupportedError(feature, MODE, reason)


def translate(exc: local_errors.LocalError, *, idempotency_key: str | None = None,
              sending: bool = False) -> SpectrumError:
    """The library's error for a failure of chat.db or Messages (``sending``: whether the
    failed action was a send, whose ``outcome`` the error then tells)."""
    text = str(exc)  # the message with its hint
    outcome = "rejected"
    error: SpectrumError
    if isinstance(exc, local_errors.InvalidArgument):
        error, outcome = ValidationError(text), "not_sent"
    elif isinstance(exc, (local_errors.NotAMacError, local_errors.ChatDBNotFound,
                          local_errors.NotAChatDB)):
        error, outcome = ConfigurationError(text), "not_sent"
    elif isinstance(exc, (local_errors.FullDiskAccessError,
                          local_errors.AutomationPermissionError)):
        error = ConfigurationError(text, code="permissionDenied")
    elif isinstance(exc, local_errors.RecipientNotFound):
        error = NotFoundError(text, code="chatNotFound")
    elif isinstance(exc, local_errors.MessagesUnavailable):
        error = ConnectionError(text, code="messagesUnavailable")
    elif isinstance(exc, local_errors.ScriptTimeout):
        error, outcome = ConnectionError(text, code="timeout", retryable=True), "unknown"
    elif isinstance(exc, local_errors.ChatDBBusy):
        error = ConnectionError(text, code="databaseBusy", retryable=True)
    elif isinstance(exc, local_errors.ScriptError):
        error, outcome = SpectrumError(text, code="scriptError"), "unknown"
    else:
        error = SpectrumError(text, code="localError")
    error.idempotency_key = idempotency_key
    if sending:
        error.outcome = outcome
    return error


@contextlib.contextmanager
def _translated(*, idempotency_key: str | None = None, sending: bool = False) -> Iterator[None]:
    try:
        yield
    except local_errors.LocalError as exc:
        raise translate(exc, idempotency_key=idempotency_key, sending=sending) from None


def _chat_key(guid: str) -> tuple[str, str]:
    """A chat without its service prefix: ``any;-;X``, ``iMessage;-;X`` and ``SMS;-;X`` are
    one conversation with X as far as matching our own sends goes."""
    _, kind, identifier = guid.split(";", 2) if guid.count(";") >= 2 else ("", "-", guid)
    return kind, identifier.lower() if "@" in identifier else identifier


class _SentKeys:
    """Idempotency keys of this client's sends: the message sent, or where to look for it
    when the send's outcome was unknown (a timeout)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: collections.OrderedDict[str, Message] = collections.OrderedDict()
        self._unknown: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._stripes = [threading.Lock() for _ in range(16)]

    def lock_for(self, key: str) -> threading.Lock:
        """Sends with one key run one at a time (sends with different keys do not wait)."""
        return self._stripes[hash(key) % len(self._stripes)]

    def done(self, key: str) -> Message | None:
        with self._lock:
            return self._done.get(key)

    def unknown_since(self, key: str) -> int | None:
        with self._lock:
            return self._unknown.get(key)

    def remember(self, key: str, message: Message) -> None:
        with self._lock:
            self._unknown.pop(key, None)
            self._done[key] = message
            while len(self._done) > KEYS_REMEMBERED:
                self._done.popitem(last=False)

    def remember_unknown(self, key: str, head: int) -> None:
        with self._lock:
            self._unknown.setdefault(key, head)
            while len(self._unknown) > KEYS_REMEMBERED:
                self._unknown.popitem(last=False)


class _Outgoing:
    """What one send hands to Messages: a text, or a file."""

    __slots__ = ("file", "text")

    def __init__(self, *, text: str | None = None, file: FileSource | None = None) -> None:
        self.text = text
        self.file = file

    def matches(self, event: LocalEvent) -> bool:
        """Whether a from-me row of chat.db is this send."""
        if self.file is None:
            return event.text == self.text
        return bool(event.attachments) or event.text == _OBJECT_REPLACEMENT

    @contextlib.contextmanager
    def file_path(self) -> Iterator[str]:
        """A path Messages can be given: the file itself, or a temporary copy of bytes or a
        file object (removed afterwards; the sender stages its own copy for Messages)."""
        assert self.file is not None
        if self.file.path is not None:
            yield self.file.path
            return
        with tempfile.TemporaryDirectory(prefix="spectrum-sync-") as folder:
            path = os.path.join(folder, os.path.basename(self.file.name) or "attachment")
            with open(path, "wb") as handle:
                handle.write(self.file.read_all())
            yield path


class LocalBackend:
    """See the module docstring. ``chat_db`` defaults to Messages' own database (Mac only);
    ``timeout`` bounds each osascript run unless a call gives its own."""

    def __init__(self, chat_db: str | os.PathLike[str] | None, timeout: float,
                 sender: MessagesSender | None = None) -> None:
        with _translated():
            self._db = ChatDB(chat_db)  # checks the file now: errors at construction
        self.path = self._db.path
        self._sender = sender or MessagesSender(timeout=timeout)
        self.timeout = timeout
        self.closed = False
        self.space = SpaceMaker(self)
        self.set_owner = self.space.set_owner
        self._keys = _SentKeys()
        self._claimed: collections.deque[int] = collections.deque(maxlen=1024)
        self._claim_lock = threading.Lock()
        self._fork = ForkGuard(self._mark_inherited)
        self._inherited = False  # a forked child still holding the parent's connection
        self._abandoned: list[object] = []

    def _mark_inherited(self) -> None:
        self._inherited = True  # a forked child: the next use opens its own connection

    def _check_process(self) -> None:
        """In a forked child: a connection, locks and cleanup timers of our own. The
        parent's are kept, untouched (closing an inherited SQLite handle is unsafe)."""
        self._fork.check()
        if self._inherited:
            with _translated():
                db = ChatDB(self.path)  # may fail: then the next call tries again
            self._abandoned += [self._db, self._sender]
            self._db, self._inherited = db, False
            self._sender = MessagesSender(timeout=self._sender.timeout,
                                          cleanup_delay=self._sender.cleanup_delay,
                                          osascript=self._sender.osascript)
            self._keys = _SentKeys()
            self._claim_lock = threading.Lock()

    @property
    def db(self) -> ChatDB:
        """This process's connection to chat.db (for chats and our own sends)."""
        self._check_process()
        return self._db

    @property
    def sender(self) -> MessagesSender:
        self._check_process()
        return self._sender

    def __repr__(self) -> str:
        return f"LocalBackend({self.summary()})"

    def summary(self) -> str:
        return f"chat_db={self.path!r}"

    @property
    def mode(self) -> str:
        return MODE

    def ready(self, timeout: float | None = None) -> None:
        if self.closed:
            raise ClientClosed("the client is closed")

    # ----- lines, quotas, credentials: none here ----------------------------------------

    def phones(self) -> list[str]:
        """No lines: the Mac's own account sends (spaces report ``phone == ""``)."""
        self.ready()
        return []

    def line_infos(self) -> list[LineInfo]:
        self.ready()
        return []

    def quota_usage(self, phone: str | None, timeout: float | None) -> QuotaUsage:
        self.ready()
        _unsupported("quota()", "Spectrum's quotas count the sends of cloud lines; Messages "
                                "on this Mac keeps no such counter")

    def refresh_credentials(self) -> bool:
        self.ready()
        return False  # no credentials

    # ----- spaces -----------------------------------------------------------------------

    def space_for(self, chat_guid: str, phone: str | None, timeout: float | None) -> Space:
        """A space for a chat guid, without reading anything (the send finds the chat)."""
        kind = space_type(chat_guid)
        self.ready()
        if phone:
            raise RoutingError(
                f"local mode has no lines: phone={phone!r} does not apply (the Mac's own "
                "account serves every chat; leave phone= out or pass \"\")", [])
        return self.space(chat_guid, kind, "")

    def create_chat(self, addresses: Sequence[str], phone: str | None, *, service: str,
                    idempotency_key: str | None, timeout: float | None) -> Space:
        self.ready()
        _unsupported("space.create()", "Messages cannot be told to create a chat; " + _USE_GET)

    def address_info(self, address: str, timeout: float | None) -> User | None:
        """No lookup service: users stay as given (service "unknown")."""
        self.ready()
        return None

    def get_chat(self, space: Space, *, timeout: float | None) -> tuple[Space, list[User]]:
        """The chat as chat.db knows it (display name, participants)."""
        self.ready()
        with _translated():
            chat = self.db.chat(space.id)
        if chat is None:
            raise NotFoundError(f"Messages has no chat {space.id!r} (chat.db at {self.path})",
                                code="chatNotFound")
        fresh = self.space(space.id, GROUP if chat.is_group else space.type, "",
                           chat.display_name or None)
        return fresh, [local_user(p.address, p.service or chat.service)
                       for p in chat.participants]

    # ----- sending ----------------------------------------------------------------------

    def send_text(
        self, space: Space, text: str, *, reply_to: str | None, effect: str | None,
        subject: str | None, formatting: tuple[TextFormat, ...],
        idempotency_key: str | None, timeout: float | None, reply_part: int | None = None,
    ) -> Message:
        """Send through Messages; returns the message as chat.db recorded it (its ``guid``
        is "" when Messages did not record it within ``ECHO_WAIT`` seconds)."""
        self.ready()
        self._refuse_extras(reply_to, effect, subject)
        if formatting:
            _unsupported("formatted text", "Messages' scripting sends plain text")
        return self._keyed(space, _Outgoing(text=text), idempotency_key, timeout)

    def send_file(
        self, space: Space, source: FileSource, *, audio: bool, reply_to: str | None,
        effect: str | None, idempotency_key: str | None, timeout: float | None,
    ) -> Message:
        """Send a file through Messages (a file on disk is handed over as it is; bytes and
        file objects are written to a temporary file first)."""
        self.ready()
        self._refuse_extras(reply_to, effect, None)
        if audio:
            _unsupported("voice messages", "Messages' scripting sends the file as an attachment;"
                                           " send it without audio=True")
        return self._keyed(space, _Outgoing(file=source), idempotency_key, timeout)

    @staticmethod
    def _refuse_extras(reply_to: str | None, effect: str | None, subject: str | None) -> None:
        if reply_to:
            _unsupported("replies", "Messages' scripting cannot thread a reply; send without "
                                    "reply_to=")
        if effect:
            _unsupported("send effects", "Messages' scripting cannot send with an effect")
        if subject:
            _unsupported("subjects", "Messages' scripting cannot send a subject line")

    def _keyed(self, space: Space, outgoing: _Outgoing, key: str | None,
               timeout: float | None) -> Message:
        """A send, once per idempotency key (see docs/behaviour.md, "Local mode")."""
        if key is None:
            return self._send(space, outgoing, None, timeout)
        with self._keys.lock_for(key):
            first = self._keys.done(key)
            if first is not None:
                return first
            since = self._keys.unknown_since(key)
            if since is not None:
                # The first attempt timed out: if Messages did send it, do not send twice.
                echo = self._find_sent(since, space, outgoing, wait=0.0)
                if echo is not None:
                    message = message_from_local(echo, space)
                    self._keys.remember(key, message)
                    return message
            message = self._send(space, outgoing, key, timeout)
            self._keys.remember(key, message)
            return message

    def _send(self, space: Space, outgoing: _Outgoing, key: str | None,
              timeout: float | None) -> Message:
        with _translated():
            head = self.db.head()
        try:
            self._run_send(space, outgoing, timeout)
        except local_errors.LocalError as exc:
            if key is not None and isinstance(exc, (local_errors.ScriptTimeout,
                                                    local_errors.ScriptError)):
                self._keys.remember_unknown(key, head)
            raise translate(exc, idempotency_key=key, sending=True) from None
        echo = self._find_sent(head, space, outgoing, wait=ECHO_WAIT)
        if echo is not None:
            return message_from_local(echo, space)
        log.info("local: Messages accepted a send to %s but chat.db shows no row for it yet",
                 space.id)
        return Message(guid="", space=space, text=outgoing.text, is_from_me=True,
                       created_at=datetime.now(timezone.utc))

    def _run_send(self, space: Space, outgoing: _Outgoing, timeout: float | None) -> None:
        service, kind, identifier = parse_chat_guid(space.id)
        sender = self.sender
        if kind == "+":
            # Messages addresses a group by its real guid, whatever prefix the caller used.
            with _translated():
                chat = self.db.chat(space.id)
            guid = chat.guid if chat else space.id
            if outgoing.file is None:
                sender.send_text_to_chat(guid, outgoing.text or "", timeout=timeout)
            else:
                with outgoing.file_path() as path:
                    sender.send_file_to_chat(guid, path, timeout=timeout)
            return
        via = self._dm_service(space.id, service)
        if outgoing.file is None:
            sender.send_text(identifier, outgoing.text or "", service=via, timeout=timeout)
        else:
            with outgoing.file_path() as path:
                sender.send_file(identifier, path, service=via, timeout=timeout)

    def _dm_service(self, guid: str, prefix: str) -> str:
        """iMessage, unless the guid or the chat Messages already has says SMS (or RCS,
        which Messages sends through the same account)."""
        if prefix.lower() in ("sms", "rcs"):
            return "SMS"
        if prefix.lower() == "any":
            with _translated():
                chat = self.db.chat(guid)
            if chat is not None and chat.service.lower() in ("sms", "rcs"):
                return "SMS"
        return "iMessage"

    def _find_sent(self, after: int, space: Space, outgoing: _Outgoing, *,
                   wait: float) -> LocalEvent | None:
        """Our own row for a send: the first unclaimed from-me message with this text (or
        an attachment) in this chat after ROWID ``after``, waiting up to ``wait`` seconds."""
        wanted = _chat_key(space.id)
        deadline = time.monotonic() + wait
        cursor = after
        while cursor - after < _SCAN_LIMIT:
            try:
                events = self.db.read_after(cursor, 200)
            except local_errors.LocalError as exc:
                log.debug("local: looking for a sent row failed: %s", exc)
                return None
            for event in events:
                cursor = event.rowid
                if (event.is_from_me and event.kind == "message" and outgoing.matches(event)
                        and _chat_key(event.chat_guid or f"any;-;{event.handle}") == wanted
                        and self._claim(event.rowid)):
                    return event
            if events:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.db.wait_for_change(timeout=remaining)
        return None  # a flood of rows since the send: give up looking

    def _claim(self, rowid: int) -> bool:
        """Two sends of the same text to one chat must not both take the same row."""
        with self._claim_lock:
            if rowid in self._claimed:
                return False
            self._claimed.append(rowid)
            return True

    def set_typing(self, space: Space, typing: bool, *, timeout: float | None) -> None:
        """Accepted and ignored: Messages' scripting has no typing indicator."""
        self.ready()

    def mark_read(self, space: Space, *, idempotency_key: str | None,
                  timeout: float | None) -> None:
        """Accepted and ignored: Messages' scripting cannot mark a chat read."""
        self.ready()

    def edit(self, message: Message, text: str, *, part: int | None = None,
             idempotency_key: str | None, timeout: float | None) -> Message:
        self.ready()
        _unsupported("editing a message", "Messages' scripting cannot edit; send a new message")

    def unsend(self, message: Message, *, part: int | None = None,
               idempotency_key: str | None, timeout: float | None) -> None:
        self.ready()
        _unsupported("unsending a message", "Messages' scripting cannot unsend")

    def react(self, message: Message, reaction: str, on: bool, *, part: int | None = None,
              idempotency_key: str | None, timeout: float | None) -> None:
        self.ready()
        _unsupported("sending a tapback", "Messages' scripting cannot react; tapbacks from "
                                          "others are received as Reaction events")

    # ----- what only the cloud's private API does (docs/behaviour.md, "Local mode") ---

    def refresh_message(self, message: Message, *, timeout: float | None) -> Message:
        self.ready()
        _unsupported("message.refresh() and wait_delivered()", _NO_HISTORY)

    def place_sticker(self, message: Message, source: FileSource, part: int | None,
                      placement: StickerPlacement, *, idempotency_key: str | None,
                      timeout: float | None) -> Message:
        self.ready()
        _unsupported("placing a sticker", "Messages' scripting cannot place stickers")

    def notify_anyway(self, message: Message, *, idempotency_key: str | None,
                      timeout: float | None) -> None:
        self.ready()
        _unsupported("notify anyway", "Messages' scripting cannot break through Focus")

    def embedded_media(self, message: Message, *, timeout: float | None) -> EmbeddedMedia:
        self.ready()
        _unsupported("embedded media", "chat.db does not hold it in a readable form")

    def send_app_card(self, space: Space, card: AppCard, *, idempotency_key: str | None,
                      timeout: float | None) -> Message:
        self.ready()
        _unsupported("app cards", "Messages' scripting cannot send app cards")

    def update_app_card(self, message: Message, card: AppCard, *,
                        idempotency_key: str | None, timeout: float | None) -> Message:
        self.ready()
        _unsupported("app cards", "Messages' scripting cannot send app cards")

    def set_background(self, space: Space, data: bytes | None, *,
                       timeout: float | None) -> None:
        self.ready()
        _unsupported("chat backgrounds", "Messages' scripting cannot change them")

    def has_background(self, space: Space, *, timeout: float | None) -> bool:
        self.ready()
        _unsupported("chat backgrounds", "Messages' scripting cannot read them")

    def chat_count(self, include_archived: bool, phone: str | None,
                   timeout: float | None) -> int:
        self.ready()
        _unsupported("chat_count()", _NO_HISTORY)

    # ----- attachments: the files Messages keeps on disk -----------------------------

    def _attachment_row(self, guid: str) -> LocalAttachment:
        with _translated():
            row = self.db.attachment(guid)
        if row is None:
            raise NotFoundError(f"chat.db has no attachment {guid!r}", code="attachmentNotFound")
        return row

    def attachment_info(self, space: Space, guid: str, *, timeout: float | None) -> Attachment:
        self.ready()
        return attachment_from_local(self._attachment_row(guid), space)

    def download_attachment(self, space: Space, guid: str, write: Callable[[bytes], object],
                            *, timeout: float | None) -> Attachment:
        """Copy the file Messages keeps for the attachment, in chunks."""
        self.ready()
        row = self._attachment_row(guid)
        if not row.path:
            raise NotFoundError(f"attachment {guid!r} has no file on this Mac (not downloaded "
                                "by Messages, or deleted)", code="attachmentNotFound")
        try:
            with open(row.path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    write(chunk)
        except FileNotFoundError:
            raise NotFoundError(f"the file of attachment {guid!r} is gone: {row.path}",
                                code="attachmentNotFound") from None
        except PermissionError as exc:
            raise ConfigurationError(
                f"cannot read {row.path}: {exc.strerror} ({local_errors.FULL_DISK_ACCESS_HINT})",
                code="permissionDenied") from None
        return attachment_from_local(row, space)

    # ----- what Messages' scripting cannot do -------------------------------------------

    def send_parts(self, space: Space, parts: Sequence[Part], *, reply_to: str | None,
                   effect: str | None, subject: str | None, idempotency_key: str | None,
                   timeout: float | None) -> Message:
        self.ready()
        _unsupported("multipart messages", "send the texts and files one by one with send() "
                                           "and send_file()")

    def share_contact(self, space: Space, *, idempotency_key: str | None,
                      timeout: float | None) -> None:
        self.ready()
        _unsupported("sharing the contact card", "Messages' scripting cannot share it")

    def history_page(self, space: Space, *, page_size: int, page_token: str | None,
                     before: datetime | None, after: datetime | None,
                     timeout: float | None) -> tuple[list[Message], str | None]:
        self.ready()
        _unsupported("history", _NO_HISTORY)

    def recent_pagers(self, phone: str | None, timeout: float | None) -> list[Pager]:
        self.ready()
        _unsupported("recent()", _NO_HISTORY)

    def get_message(self, guid: str, phone: str | None, timeout: float | None) -> Message:
        self.ready()
        _unsupported("client.message()", _NO_HISTORY)

    def imessage_available(self, address: str, timeout: float | None) -> bool:
        self.ready()
        _unsupported("is_imessage()", "only Spectrum's lookup service can tell")

    def focus_silenced(self, address: str, timeout: float | None) -> bool:
        self.ready()
        _unsupported("focus_status()", "only Spectrum's lookup service can tell")

    def friend_locations(self, address: str | None, phone: str | None,
                         timeout: float | None) -> list[FriendLocation]:
        self.ready()
        _unsupported("friend locations", "Find My is reached through Spectrum's service")

    def request_location(self, space: Space, address: str, *, idempotency_key: str | None,
                         timeout: float | None) -> LocationRequest:
        self.ready()
        _unsupported("request_location()", "Find My is reached through Spectrum's service")

    def watch_locations(self, address: str | None, phone: str | None
                        ) -> Iterator[FriendLocation]:
        self.ready()
        _unsupported("watch_friend_locations()",
                     "Find My is reached through Spectrum's service")

    def rename_group(self, space: Space, name: str, *, idempotency_key: str | None,
                     timeout: float | None) -> Space:
        self.ready()
        _unsupported("group management", _GROUPS)

    def change_members(self, space: Space, addresses: list[str], add: bool, *,
                       idempotency_key: str | None, timeout: float | None) -> Space:
        self.ready()
        _unsupported("group management", _GROUPS)

    def leave_group(self, space: Space, *, idempotency_key: str | None,
                    timeout: float | None) -> None:
        self.ready()
        _unsupported("group management", _GROUPS)

    def set_group_icon(self, space: Space, data: bytes | None, *,
                       idempotency_key: str | None, timeout: float | None) -> None:
        self.ready()
        _unsupported("group management", _GROUPS)

    def group_icon(self, space: Space, *, timeout: float | None) -> bytes | None:
        self.ready()
        _unsupported("group management", _GROUPS)

    def create_poll(self, space: Space, title: str, options: list[str], *,
                    idempotency_key: str | None, timeout: float | None) -> Poll:
        self.ready()
        _unsupported("polls", _POLLS)

    def get_poll(self, space: Space, guid: str, *, timeout: float | None) -> Poll:
        self.ready()
        _unsupported("polls", _POLLS)

    def change_poll(self, poll: Poll, action: str, value: str | None, *,
                    idempotency_key: str | None, timeout: float | None) -> Poll:
        self.ready()
        _unsupported("polls", _POLLS)

    # ----- receiving --------------------------------------------------------------------

    def open_chat_db(self) -> ChatDB:
        """A connection of its own to chat.db (the receive feed reads through one)."""
        with _translated():
            return ChatDB(self.path)

    def receiving_lines(self) -> list[tuple[str, str]]:
        return [("local", "")]

    def learn_route(self, chat_guid: str, phone: str) -> None:
        pass  # one account serves every chat

    def close(self) -> None:
        self.closed = True
        self._fork.check()
        if not self._inherited:  # a child closes nothing it inherited
            self._sender.close()
            self._db.close()
