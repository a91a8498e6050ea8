"""The handles: spaces, messages, reactions and attachments, which act through their backend.

They sit above the plain values (:mod:`._values`) and the helpers they call, imported at
module level (docs/architecture.md, "Layers") but for the cards', contacts' and parts'
helpers, which load on first use: a one-shot send needs none of them. They hold no
generated protobuf type (conversion lives in :mod:`._wire.convert`). A :class:`Space`
carries a hidden reference to the backend operations (:class:`SpaceOperations`: the cloud or
the local backend), so that its actions and those of its messages run on the line that
serves the chat. Every received event has a ``kind``, a ``sequence`` (the line's event
sequence; 0 for objects that did not come from a stream) and ``ack()`` (see
docs/behaviour.md, "Commit points").
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol

import attrs

from ._addresses import normalize_address
from ._attachments import (
    FileInput,
    FileSource,
    Folder,
    Target,
    check_progress,
    check_target,
    file_source,
    report_sent,
    reporting,
    safe_file_name,
    save,
    target_in,
)
from ._delivery import wait_delivered
from ._effects import effect_id, effect_name
from ._errors import ValidationError
from ._history import page_through
from ._markdown import link_preview_option, text_body
from ._reactions import check_reaction
from ._records import field_methods
from ._responding import responding
from ._streaming import stream_text
from ._telemetry import traced_send
from ._validate import (
    check_aware_datetime,
    check_bool,
    check_count,
    check_guid,
    check_idempotency_key,
    check_interval,
    check_optional_text,
    check_poll_options,
    check_poll_title,
    check_text,
    check_timeout,
)
from ._values import Mention, Received, TextFormat, User, UserLike

if TYPE_CHECKING:
    # Named in annotations only: cards, contacts, parts and the rarer features' values load
    # on first use (a plain send needs none of them: bench/oneshot.py); events and polls
    # stand above this module (they hold spaces and messages).
    from ._app_cards import AppCard, CardLayout
    from ._contacts import Contact
    from ._events import StickerPlaced
    from ._feature_values import EmbeddedMedia, StickerPlacement
    from ._parts import Part
    from ._polls import Poll

    class WireFields(Protocol):
        """Where a :class:`Message` read from a stream finds the fields it did not decode
        yet (``_wire/convert.py`` implements it; for type checkers only: a Protocol costs
        a one-shot script's import time)."""

        def fill(self, message: Message, name: str) -> Any:
            """Decode the field ``name`` of ``message`` (and the fields read with it), set
            them on it and return the value; :data:`NOT_A_FIELD` for a name that is no
            field it decodes."""

__all__ = ["Attachment", "Message", "Reaction", "Space", "SpaceOperations"]

log = logging.getLogger("spectrum_sync")

#: What ``WireFields.fill`` returns for a name that is no field it decodes.
NOT_A_FIELD: Any = object()


class SpaceOperations(Protocol):
    """What a backend (cloud or local) does for a space and its messages.

    Arguments arrive validated; ``reaction`` is already a single emoji."""

    @property
    def mode(self) -> str:
        """ "shared", "dedicated", "explicit" or "local"."""

    def send_text(
        self, space: Space, text: str, *, reply_to: str | None, effect: str | None,
        subject: str | None, formatting: tuple[TextFormat, ...],
        idempotency_key: str | None, timeout: float | None, reply_part: int | None = None,
    ) -> Message: ...

    def send_file(
        self, space: Space, source: FileSource, *, audio: bool, reply_to: str | None,
        effect: str | None, idempotency_key: str | None, timeout: float | None,
    ) -> Message: ...

    def send_parts(
        self, space: Space, parts: Sequence[Part], *, reply_to: str | None,
        effect: str | None, subject: str | None, idempotency_key: str | None,
        timeout: float | None,
    ) -> Message: ...

    def attachment_info(self, space: Space, guid: str, *,
                        timeout: float | None) -> Attachment: ...

    def download_attachment(self, space: Space, guid: str, write: Callable[[bytes], object],
                            *, timeout: float | None) -> Attachment: ...

    def share_contact(self, space: Space, *, idempotency_key: str | None,
                      timeout: float | None) -> None: ...

    def history_page(
        self, space: Space, *, page_size: int, page_token: str | None,
        before: datetime | None, after: datetime | None, timeout: float | None,
    ) -> tuple[list[Message], str | None]: ...

    def rename_group(self, space: Space, name: str, *, idempotency_key: str | None,
                     timeout: float | None) -> Space: ...

    def change_members(self, space: Space, addresses: list[str], add: bool, *,
                       idempotency_key: str | None, timeout: float | None) -> Space: ...

    def leave_group(self, space: Space, *, idempotency_key: str | None,
                    timeout: float | None) -> None: ...

    def set_group_icon(self, space: Space, data: bytes | None, *,
                       idempotency_key: str | None, timeout: float | None) -> None: ...

    def group_icon(self, space: Space, *, timeout: float | None) -> bytes | None: ...

    def create_poll(self, space: Space, title: str, options: list[str], *,
                    idempotency_key: str | None, timeout: float | None) -> Poll: ...

    def get_poll(self, space: Space, guid: str, *, timeout: float | None) -> Poll: ...

    def change_poll(self, poll: Poll, action: str, value: str | None, *,
                    idempotency_key: str | None, timeout: float | None) -> Poll: ...

    def set_typing(self, space: Space, typing: bool, *, timeout: float | None) -> None: ...

    def mark_read(
        self, space: Space, *, idempotency_key: str | None, timeout: float | None
    ) -> None: ...

    def get_chat(self, space: Space, *, timeout: float | None) -> tuple[Space, list[User]]: ...

    def edit(
        self, message: Message, text: str, *, part: int | None = None,
        idempotency_key: str | None, timeout: float | None,
    ) -> Message: ...

    def unsend(
        self, message: Message, *, part: int | None = None, idempotency_key: str | None,
        timeout: float | None,
    ) -> None: ...

    def react(
        self, message: Message, reaction: str, on: bool, *, part: int | None = None,
        idempotency_key: str | None, timeout: float | None,
    ) -> None: ...

    def refresh_message(self, message: Message, *, timeout: float | None) -> Message: ...

    def place_sticker(self, message: Message, source: FileSource, part: int | None,
                      placement: StickerPlacement, *, idempotency_key: str | None,
                      timeout: float | None) -> Message: ...

    def notify_anyway(self, message: Message, *, idempotency_key: str | None,
                      timeout: float | None) -> None: ...

    def embedded_media(self, message: Message, *, timeout: float | None) -> EmbeddedMedia: ...

    def send_app_card(self, space: Space, card: AppCard, *, idempotency_key: str | None,
                      timeout: float | None) -> Message: ...

    def update_app_card(self, message: Message, card: AppCard, *,
                        idempotency_key: str | None, timeout: float | None) -> Message: ...

    def set_background(self, space: Space, data: bytes | None, *,
                       timeout: float | None) -> None: ...

    def has_background(self, space: Space, *, timeout: float | None) -> bool: ...


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Space:
    """A conversation: ``id`` (the chat guid), ``type`` ("dm" or "group") and ``phone`` (the
    number of the line that serves it; "shared" in shared mode, "" in local mode)."""

    id: str
    type: str
    phone: str
    display_name: str | None = attrs.field(default=None, eq=False)
    _ops: SpaceOperations = attrs.field(eq=False, repr=False, alias="ops")
    # The client behind ``ops``: a space in use keeps its client open.
    _owner: object = attrs.field(default=None, eq=False, repr=False, alias="owner")

    def send(
        self,
        text: str | None = None,
        *,
        markdown: str | None = None,
        link_preview: bool = False,
        reply_to: Message | str | None = None,
        effect: str | None = None,
        subject: str | None = None,
        formatting: Iterable[TextFormat] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Message:
        """Send a text; blocks until the server accepted it and returns the message.

        ``markdown`` instead of ``text`` sends markdown rendered as iMessage shows it (bold,
        italic, strikethrough ranges; needs ``pip install "spectrum-sync[markdown]"``);
        ``link_preview=True`` asks for a rich preview of the text's link.
        ``reply_to`` (a message or its guid) makes it a threaded reply; ``effect`` an
        expressive send effect (a name such as ``"confetti"``, see :meth:`send_file`, or an
        effect id); ``subject`` a subject line; ``formatting`` a list of
        :class:`TextFormat` ranges (bold, italic, underline, strikethrough, text effects).
        ``idempotency_key`` (your own, e.g. ``"order-42-shipped"``) makes the send safe to
        repeat from another process or a retried task: the server answers a repeat with the
        first message instead of sending a second bubble."""
        return self._send_text(text, markdown=markdown, link_preview=link_preview,
                               reply_to=reply_to, effect=effect, subject=subject,
                               formatting=formatting, idempotency_key=idempotency_key,
                               timeout=timeout)

    @traced_send
    def _send_text(
        self, text: str | None, *, markdown: str | None = None, link_preview: bool = False,
        reply_to: Message | str | None = None, reply_part: int | None = None,
        effect: str | None = None, subject: str | None = None,
        formatting: Iterable[TextFormat] | None = None, idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Message:
        """:meth:`send`, and a reply to one part of a message (``reply_part``)."""

        body, formats = text_body(text, markdown, formatting)
        preview = link_preview_option(self, body, link_preview)
        extra: dict[str, Any] = dict(preview)
        if reply_part is not None:
            extra["reply_part"] = reply_part
        return self._ops.send_text(
            self,
            body,
            reply_to=_target(reply_to),
            effect=effect_id(effect),
            subject=check_optional_text("subject", subject),
            formatting=formats,
            idempotency_key=_key(idempotency_key),
            timeout=check_timeout(timeout),
            **extra,
        )

    @traced_send
    def send_stream(
        self,
        chunks: Iterable[Any],
        *,
        extract: Callable[[Any], str | None] | None = None,
        reply_to: Message | str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Message:
        """Send a streamed text (an LLM's answer) as one message edited as it grows; returns
        the message with the whole text.

        ``chunks``: strings, or the stream events of the OpenAI (Responses, Chat
        Completions) or Anthropic SDKs; ``extract`` reads the text of any other chunk (None:
        no text). The first text is sent at once, then at most five edits (docs/behaviour.md,
        "Streamed text"). :class:`ValidationError` for a stream without text; an exception
        raised by ``chunks`` reaches you, and the message keeps the text it showed."""

        return stream_text(self, chunks, extract=extract, reply_to=_target(reply_to),
                           idempotency_key=_key(idempotency_key),
                           timeout=check_timeout(timeout))

    @traced_send
    def send_file(
        self,
        file: FileInput,
        *,
        name: str | None = None,
        mime: str | None = None,
        audio: bool = False,
        reply_to: Message | str | None = None,
        effect: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> Message:
        """Upload a file and send it; returns the message (its ``attachments`` describe the
        file).

        ``file`` is a path (``str`` or ``pathlib.Path``), bytes or a binary file object (read
        from its current position). ``name`` is the file name recipients see (default: the
        file's own, ``"attachment"`` for bytes); the service infers the type from it, and
        ``mime`` adds the matching extension to a name without one. ``audio=True`` sends it
        as a voice message (give an audio file, e.g. m4a). ``effect`` is one of balloons,
        celebration, confetti, echo, fireworks, gentle, heart, invisible, lasers, loud, slam,
        sparkles, spotlight (or an effect id). Files over 100 MiB, empty, missing or
        unreadable files are refused before anything is uploaded. ``idempotency_key`` makes
        the send (not the upload, which is harmless to repeat) safe to retry; ``timeout``
        covers the upload and the send. ``progress(bytes_done, total)`` is called with
        ``(0, total)`` before the upload and ``(total, total)`` once the message is sent (the
        file travels as one request, so there is nothing finer to report; an exception from
        the first call cancels the send, from the last one it is logged).

        Raises :class:`ValidationError` for bad arguments, and what any send raises
        (:class:`QuotaExceeded`, :class:`CloudError`, :class:`ConnectionError`...)."""

        report = check_progress(progress)
        source = file_source(file, name=name, mime=mime)
        audio, reply, effect, key, wait = (
            check_bool("audio", audio), _target(reply_to), effect_id(effect),
            _key(idempotency_key), check_timeout(timeout))
        if report is not None:
            report(0, source.size)
        sent = self._ops.send_file(self, source, audio=audio, reply_to=reply, effect=effect,
                                   idempotency_key=key, timeout=wait)
        if report is not None:
            report_sent(report, source.size)
        return sent

    @traced_send
    def send_parts(
        self,
        parts: Sequence[str | Part | FileInput],
        *,
        reply_to: Message | str | None = None,
        effect: str | None = None,
        subject: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Message:
        """Send text and files as one message; returns it.

        Each part is a ``str`` (text), a :class:`Part` (``Part.text(text, formatting=...)``,
        ``Part.mention(user, "@Ann")``, ``Part.file(path, name=...)``) or a file given
        directly (a ``pathlib.Path``, bytes or a binary file object; a path written as a
        ``str`` needs ``Part.file``, since a ``str`` is text). Files are uploaded first;
        every part is checked before anything is uploaded. The other arguments are those of
        :meth:`send`."""

        from ._parts import resolve_parts  # on first use (see the module's imports)

        return self._ops.send_parts(
            self,
            resolve_parts(parts, self._address),
            reply_to=_target(reply_to),
            effect=effect_id(effect),
            subject=check_optional_text("subject", subject),
            idempotency_key=_key(idempotency_key),
            timeout=check_timeout(timeout),
        )

    def share_contact(self, *, idempotency_key: str | None = None,
                      timeout: float | None = None) -> None:
        """Share the line's own contact card (name and photo) with the space."""
        self._ops.share_contact(self, idempotency_key=_key(idempotency_key),
                                timeout=check_timeout(timeout))

    # ----- contact cards, app cards, backgrounds (see docs/behaviour.md) ----------------

    def send_contact(self, contact: Contact, *, idempotency_key: str | None = None,
                     timeout: float | None = None) -> Message:
        """Send someone's contact card (a :class:`Contact`) as a vCard; returns the message.
        (:meth:`share_contact` shares the line's own card instead.)"""

        from ._contacts import Contact  # on first use (see the module's imports)

        if not isinstance(contact, Contact):
            raise ValidationError(f"send_contact takes a Contact, not {type(contact).__name__}")
        return self.send_file(contact.to_vcard().encode(), name=contact.file_name,
                              idempotency_key=idempotency_key, timeout=timeout)

    def send_app_card(
        self, url: str, layout: CardLayout, *, team_id: str, bundle_id: str, app_name: str,
        app_store_id: int | None = None, live: bool | None = None,
        idempotency_key: str | None = None, timeout: float | None = None,
    ) -> Message:
        """Send a mini-app card of your iMessage extension (``team_id``, ``bundle_id``,
        ``app_name``; ``team_id`` is Apple's 10-character upper-case id, ``bundle_id`` has no
        ``:``; ``app_store_id`` points recipients without it at the App Store) that
        opens ``url``; ``layout`` is what the bubble shows. Returns the message, whose
        ``app_card`` :meth:`Message.update_app_card` changes later."""

        from ._app_cards import new_card  # on first use (see the module's imports)

        card = new_card(url, layout, team_id, bundle_id, app_name, app_store_id, live)
        return self._ops.send_app_card(self, card, idempotency_key=_key(idempotency_key),
                                       timeout=check_timeout(timeout))

    def send_link_card(self, url: str, *, live: bool | None = None, fetch_timeout: float = 5.0,
                       idempotency_key: str | None = None,
                       timeout: float | None = None) -> Message:
        """Send ``url`` as a card of Spectrum's mini app, its layout built from the page's
        Open Graph tags (fetched with a ``fetch_timeout``; a page that cannot be read gives
        a card with its host name; the image must be a JPEG unless Pillow is installed)."""

        # On first use (see the module's imports).
        from ._app_cards import SPECTRUM_APP, check_url, link_layout

        checked = check_url(url)
        layout = link_layout(checked, check_interval("fetch_timeout", fetch_timeout,
                                                     minimum=0.01))
        return self.send_app_card(checked, layout, team_id=SPECTRUM_APP.team_id,
                                  bundle_id=SPECTRUM_APP.bundle_id,
                                  app_name=SPECTRUM_APP.app_name or "Spectrum",
                                  app_store_id=SPECTRUM_APP.app_store_id, live=live,
                                  idempotency_key=idempotency_key, timeout=timeout)

    def set_background(self, image: FileInput, *, timeout: float | None = None) -> None:
        """Set the chat's background picture (a path, bytes or a binary file object)."""

        data = file_source(image, what="background").read_all()
        self._ops.set_background(self, data, timeout=check_timeout(timeout))

    def remove_background(self, *, timeout: float | None = None) -> None:
        """Remove the chat's background picture."""
        self._ops.set_background(self, None, timeout=check_timeout(timeout))

    def has_background(self, *, timeout: float | None = None) -> bool:
        """Whether the chat has a background picture."""
        return self._ops.has_background(self, timeout=check_timeout(timeout))

    def history(self, limit: int | None = None, before: datetime | None = None,
                after: datetime | None = None, *, timeout: float | None = None,
                ) -> Iterator[Message]:
        """The space's messages, newest first, fetched page by page as you iterate.

        ``limit`` caps how many (pages are sized to it: the first 5 cost one small request);
        ``before``/``after`` (timezone-aware datetimes, e.g. a message's ``created_at``)
        bound the time window ``[after, before)``. ``timeout`` applies to each page."""

        count = check_count("limit", limit)
        upper = check_aware_datetime("before", before)
        lower = check_aware_datetime("after", after)
        wait = check_timeout(timeout)

        def fetch(size: int, token: str | None) -> tuple[list[Message], str | None]:
            return self._ops.history_page(self, page_size=size, page_token=token,
                                          before=upper, after=lower, timeout=wait)

        return page_through(fetch, count)

    def poll(self, guid: str, *, timeout: float | None = None) -> Poll:
        """The poll whose message guid is ``guid`` (e.g. from a received ``PollChanged``)."""

        return self._ops.get_poll(self, check_guid("poll guid", guid),
                                  timeout=check_timeout(timeout))

    def create_poll(self, title: str, options: Sequence[str], *,
                    idempotency_key: str | None = None, timeout: float | None = None,
                    ) -> Poll:
        """Start a poll: a non-empty ``title`` of at most 300 characters and 2 to 10
        distinct ``options`` (case and surrounding spaces do not make two options
        distinct), as the official SDK requires; refused before any call."""

        return self._ops.create_poll(self, check_poll_title(title),
                                     check_poll_options(options),
                                     idempotency_key=_key(idempotency_key),
                                     timeout=check_timeout(timeout))

    # ----- groups (dedicated lines) -----------------------------------------------------

    def rename(self, name: str, *, idempotency_key: str | None = None,
               timeout: float | None = None) -> Space:
        """Set the group's name (``""`` removes it); returns the renamed group."""
        if not isinstance(name, str):
            raise ValidationError(f"name must be a string, not {type(name).__name__}")
        return self._ops.rename_group(self, check_optional_text("name", name, limit=1000) or "",
                                      idempotency_key=_key(idempotency_key),
                                      timeout=check_timeout(timeout))

    def add(self, users: UserLike | Iterable[UserLike], *, idempotency_key: str | None = None,
            timeout: float | None = None) -> Space:
        """Add people (Users or addresses) to the group; returns the group."""
        return self._ops.change_members(self, self._addresses(users), True,
                                        idempotency_key=_key(idempotency_key),
                                        timeout=check_timeout(timeout))

    def remove(self, users: UserLike | Iterable[UserLike], *,
               idempotency_key: str | None = None, timeout: float | None = None) -> Space:
        """Remove people from the group; returns the group."""
        return self._ops.change_members(self, self._addresses(users), False,
                                        idempotency_key=_key(idempotency_key),
                                        timeout=check_timeout(timeout))

    def leave(self, *, idempotency_key: str | None = None,
              timeout: float | None = None) -> None:
        """Make the line leave the group (it can no longer send there)."""
        self._ops.leave_group(self, idempotency_key=_key(idempotency_key),
                              timeout=check_timeout(timeout))

    def set_icon(self, image: FileInput, *, idempotency_key: str | None = None,
                 timeout: float | None = None) -> None:
        """Set the group's photo from a path, bytes or a binary file object (the service
        reads the image type from the bytes: JPEG, PNG, HEIC...)."""

        data = file_source(image, what="icon").read_all()
        self._ops.set_group_icon(self, data, idempotency_key=_key(idempotency_key),
                                 timeout=check_timeout(timeout))

    def remove_icon(self, *, idempotency_key: str | None = None,
                    timeout: float | None = None) -> None:
        """Remove the group's photo (nothing happens when it has none)."""
        self._ops.set_group_icon(self, None, idempotency_key=_key(idempotency_key),
                                 timeout=check_timeout(timeout))

    def icon(self, *, timeout: float | None = None) -> bytes | None:
        """The group's photo, or None when it has none: an :class:`Icon` (its bytes, with
        ``mime_type``)."""
        return self._ops.group_icon(self, timeout=check_timeout(timeout))

    def _address(self, user: object) -> str:
        """An address normalised as the client normalises it (its default region)."""
        if isinstance(user, User):
            return user.address
        lookup = getattr(self._owner, "user", None)
        if callable(lookup) and isinstance(user, str):
            found: User = lookup(user, resolve=False)
            return found.address

        return normalize_address(user)[0]

    def _addresses(self, users: object) -> list[str]:
        if isinstance(users, (User, str)):
            many: list[object] = [users]
        elif isinstance(users, Iterable) and not isinstance(users, (bytes, dict)):
            many = list(users)
        else:
            raise ValidationError(f"expected a User, an address or a list of them, not "
                                  f"{users!r}")
        if not many:
            raise ValidationError("give at least one user")
        return list(dict.fromkeys(self._address(user) for user in many))

    def set_typing(self, typing: bool, *, timeout: float | None = None) -> None:
        """Turn the typing indicator on or off."""
        self._ops.set_typing(self, bool(typing), timeout=check_timeout(timeout))

    @contextlib.contextmanager
    def typing(self, *, timeout: float | None = None) -> Iterator[Space]:
        """Typing indicator on for the block; always turned off afterwards."""
        self.set_typing(True, timeout=timeout)
        failed = False
        try:
            yield self
        except BaseException:
            failed = True
            raise
        finally:
            try:
                self.set_typing(False, timeout=timeout)
            except Exception:
                if not failed:
                    raise
                # Do not hide the block's own exception behind this one.
                log.warning("could not turn the typing indicator off", exc_info=True)

    def responding(self, *, refresh: float = 20.0,
                   timeout: float | None = None) -> contextlib.AbstractContextManager[Space]:
        """Typing indicator on while the block runs (preparing an answer), refreshed every
        ``refresh`` seconds so that a long block keeps it showing, always turned off at the
        end. An exception of the block goes through untouched; a failure to turn the
        indicator off is logged, not raised (the block's work is done)."""

        return responding(self, check_interval("refresh", refresh, minimum=0.05),
                          check_timeout(timeout))

    def mark_read(
        self, *, idempotency_key: str | None = None, timeout: float | None = None
    ) -> None:
        """Mark every message of the space as read."""
        self._ops.mark_read(self, idempotency_key=_key(idempotency_key),
                            timeout=check_timeout(timeout))

    def participants(self, *, timeout: float | None = None) -> list[User]:
        """The other members of the space (from the server)."""
        return self._ops.get_chat(self, timeout=check_timeout(timeout))[1]

    def refresh(self, *, timeout: float | None = None) -> Space:
        """A fresh copy from the server (e.g. with its current display name)."""
        return self._ops.get_chat(self, timeout=check_timeout(timeout))[0]


def _key(idempotency_key: str | None) -> str | None:
    return check_idempotency_key(idempotency_key)


def _target(reply_to: object) -> str | None:
    """The guid a reply points at (a Message or a guid)."""
    target = reply_to.guid if isinstance(reply_to, Message) else reply_to
    return check_optional_text("reply_to", target, limit=1024)


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Attachment:
    """Metadata of a file carried by a message (the bytes stay on the server until
    :meth:`download`). ``uti`` is Apple's type identifier, ``transfer_state`` one of
    pending, transferring, finished, failed, unavailable, unknown (None when not told).

    ``file_name`` is always a safe base name (no folders, no ``..``, no control characters,
    never empty), so ``folder / attachment.file_name`` stays in ``folder``; the name exactly
    as the sender gave it is ``raw_file_name``, to display, never to build a path."""

    guid: str
    file_name: str
    mime_type: str
    size: int
    is_sticker: bool = False
    uti: str | None = None
    transfer_state: str | None = None
    raw_file_name: str | None = None
    # The space whose line holds the file (set when received or sent; None when made by
    # hand, which leaves the file out of reach).
    _space: Space | None = attrs.field(default=None, eq=False, repr=False, alias="space")

    def __attrs_post_init__(self) -> None:

        # Every way in (gRPC, chat.db, a webhook, by hand) passes here: the sender chose the
        # name, so it is made safe once, in the model, and kept raw beside it.
        if self.raw_file_name is None:
            object.__setattr__(self, "raw_file_name", self.file_name)
        object.__setattr__(self, "file_name", safe_file_name(self.file_name))

    def _holder(self) -> Space:
        if self._space is None:
            raise ValidationError(
                f"attachment {self.guid!r} is not bound to a space: use the attachments of a "
                "received or sent message")
        return self._space

    def download(self, to: Target | None = None, *, into: Folder | None = None,
                 timeout: float | None = None,
                 progress: Callable[[int, int], object] | None = None) -> int:
        """Stream the file into ``to`` (a path, or a binary file object open for writing), or
        into the folder ``into`` as ``into / file_name`` (replacing a file of that name);
        returns the number of bytes written. Chunks are written as they arrive (the file is
        never held in memory); a path is written through a temporary file in its folder and
        renamed into place once complete, so it never holds a partial download. ``timeout``
        covers the whole download (the client's default otherwise). ``progress(bytes_done,
        total)`` is called after each chunk is written (``total``: the attachment's
        ``size``); an exception from it cancels the download.

        Raises :class:`ValidationError` for a bad target (or both or neither of ``to`` and
        ``into``) or an attachment bound to no space, :class:`SpectrumError` when the file
        cannot be written, and what any call raises (:class:`NotFoundError`,
        :class:`ConnectionError`...)."""

        if (to is None) == (into is None):
            raise ValidationError("download needs either to= (a path or file object) or "
                                  "into= (a folder)")
        target = to if to is not None else target_in(into, self.file_name)
        check_target(target)
        report = check_progress(progress)
        space = self._holder()
        wait = check_timeout(timeout)
        guid = self.guid
        size = self.size

        def run(write: Callable[[bytes], object]) -> object:
            if report is not None:
                write = reporting(write, report, size)
            return space._ops.download_attachment(space, guid, write, timeout=wait)

        return save(target, run)

    def read(self, *, timeout: float | None = None) -> bytes:
        """The whole file in memory (for small files; see :meth:`download`)."""
        import io

        buffer = io.BytesIO()
        self.download(buffer, timeout=timeout)
        return buffer.getvalue()

    def info(self, *, timeout: float | None = None) -> Attachment:
        """Fresh metadata from the server (e.g. its transfer state)."""
        space = self._holder()
        return space._ops.attachment_info(space, self.guid, timeout=check_timeout(timeout))


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Message(Received):
    """A message in a space. ``sender`` is None for our own messages; ``attachments`` lists
    the files it carries (metadata; ``attachment.download(to=...)`` fetches one);
    ``formatting`` and ``mentions`` describe ranges of ``text``; ``effect`` is the effect id
    (``effect_name`` its name); ``is_audio`` marks a voice message.

    Delivery state as the service last reported it: ``is_sent``, ``is_delivered``,
    ``delivered_quietly``, ``notified``, ``send_error_code``, ``delivered_at``, ``read_at``
    (``is_read``), ``played_at``, ``effect_played_at``, ``service``; :meth:`refresh` reads it
    again and :meth:`wait_delivered` waits for delivery. ``part_count`` bubbles (actions take
    ``part=``), ``reactions`` and ``stickers`` applied to it, ``app_card`` (a mini-app card),
    ``flags`` (``auto_reply``, ``forward``, ``spam``...), ``item_type`` and the rest of the
    protocol's fields: docs/behaviour.md, "Every field of the protocol's Message"."""

    kind: ClassVar[str] = "message"

    guid: str
    space: Space
    text: str | None = None
    sender: User | None = None
    is_from_me: bool = False
    created_at: datetime | None = None
    edited_at: datetime | None = attrs.field(default=None, eq=False)
    retracted_at: datetime | None = attrs.field(default=None, eq=False)
    subject: str | None = None
    effect: str | None = None
    reply_to_guid: str | None = None
    thread_originator_guid: str | None = None
    attachments: tuple[Attachment, ...] = ()
    formatting: tuple[TextFormat, ...] = ()
    mentions: tuple[Mention, ...] = ()
    is_audio: bool = False
    # Delivery state and the rest of the wire fields: see docs/behaviour.md, "Delivery
    # state" (values that change as the message travels are left out of equality).
    is_sent: bool = attrs.field(default=False, eq=False)
    is_delivered: bool = attrs.field(default=False, eq=False)
    delivered_quietly: bool = attrs.field(default=False, eq=False)
    notified: bool = attrs.field(default=False, eq=False)
    send_error_code: int = attrs.field(default=0, eq=False)
    #: "iMessage", "SMS" or "RCS" (the sender's service, else the chat's); None if unknown.
    service: str | None = None
    delivered_at: datetime | None = attrs.field(default=None, eq=False)
    read_at: datetime | None = attrs.field(default=None, eq=False)
    played_at: datetime | None = attrs.field(default=None, eq=False)
    effect_played_at: datetime | None = attrs.field(default=None, eq=False)
    item_type: str = "normal"
    group_title: str | None = None
    chat_action: int | None = None
    flags: frozenset[str] = frozenset()
    part_count: int = 1
    destination: str | None = None
    balloon_bundle_id: str | None = None
    app_card: AppCard | None = attrs.field(default=None, eq=False)
    reactions: tuple[Reaction, ...] = attrs.field(default=(), eq=False)
    stickers: tuple[StickerPlaced, ...] = attrs.field(default=(), eq=False)
    # A message read from a stream holds its wire message and decodes each of the other
    # fields when it is first read (docs/architecture.md, "Decoding on first read"); None
    # for a message made any other way, whose fields are all set.
    _wire: WireFields | None = attrs.field(default=None, init=False, eq=False, repr=False)

    if not TYPE_CHECKING:  # to type checkers a Message has its declared fields, no others

        def __getattr__(self, name: str) -> Any:
            # Python calls this only for an attribute it did not find: here, a field of a
            # message from a stream that was not read yet.
            wire = None if name == "_wire" else self._wire
            value = NOT_A_FIELD if wire is None else wire.fill(self, name)
            if value is NOT_A_FIELD:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}")
            return value

    @property
    def id(self) -> str:
        """Same as ``guid``."""
        return self.guid

    @property
    def effect_name(self) -> str | None:
        """The name of the message's effect (``"confetti"``...); None without one or for an
        effect this version does not name (``effect`` holds the id)."""

        return effect_name(self.effect)

    @property
    def is_read(self) -> bool:
        """Whether the recipient read it (``read_at`` is known)."""
        return self.read_at is not None

    def refresh(self, *, timeout: float | None = None) -> Message:
        """The message as the server holds it now (delivery state, edits, reactions): a new
        :class:`Message` (GetMessage)."""
        return self.space._ops.refresh_message(self, timeout=check_timeout(timeout))

    def wait_delivered(self, timeout: float = 30.0, *,
                       interval: float = 0.25) -> Message:
        """Block until the server reports the message delivered; returns the delivered
        :class:`Message`. Polls ``GetMessage`` from every ``interval`` seconds, backing off
        to 5 s. Raises :class:`DeliveryFailed` when Apple reports a send error (e.g. the
        recipient has no iMessage: fall back to SMS or e-mail) and :class:`DeliveryTimeout`
        when ``timeout`` passes first (docs/behaviour.md, "Delivery state")."""

        return wait_delivered(self, timeout, interval)

    def reply(
        self, text: str | None = None, *, markdown: str | None = None,
        link_preview: bool = False, part: int | None = None,
        idempotency_key: str | None = None, timeout: float | None = None,
    ) -> Message:
        """Threaded reply to this message in its space (``markdown``, ``link_preview``: as
        in :meth:`Space.send`; ``part``: to one bubble of a multipart message, counted
        from 0)."""
        return self.space._send_text(
            text, markdown=markdown, link_preview=link_preview, reply_to=self.guid,
            reply_part=self._part(part), idempotency_key=idempotency_key, timeout=timeout)

    def _part(self, part: int | None) -> int | None:
        """A bubble index of this message, checked against ``part_count``."""
        if part is None:
            return None
        if not isinstance(part, int) or isinstance(part, bool) or not (
                0 <= part < max(self.part_count, 1)):
            raise ValidationError(
                f"part must be a bubble index from 0 to {max(self.part_count, 1) - 1} "
                f"(the message has {self.part_count} part(s)), not {part!r}")
        return part

    def reply_stream(
        self, chunks: Iterable[Any], *, extract: Callable[[Any], str | None] | None = None,
        idempotency_key: str | None = None, timeout: float | None = None,
    ) -> Message:
        """Threaded reply streamed into one message, as :meth:`Space.send_stream`."""
        return self.space.send_stream(chunks, extract=extract, reply_to=self.guid,
                                      idempotency_key=idempotency_key, timeout=timeout)

    def react(
        self, emoji: str, *, part: int | None = None, idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Add a tapback: ❤️ 👍 👎 😂 ‼️ ❓ (or their names: love, like, dislike, laugh,
        emphasize, question) or any single emoji; ``part`` puts it on one bubble of a
        multipart message (counted from 0)."""
        self._react(emoji, True, part, idempotency_key, timeout)

    def unreact(
        self, emoji: str, *, part: int | None = None, idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Remove a tapback added with :meth:`react` (the same ``part``)."""
        self._react(emoji, False, part, idempotency_key, timeout)

    def _react(
        self, emoji: str, on: bool, part: int | None, idempotency_key: str | None,
        timeout: float | None,
    ) -> None:

        self.space._ops.react(self, check_reaction(emoji), on, part=self._part(part),
                              idempotency_key=_key(idempotency_key),
                              timeout=check_timeout(timeout))

    def edit(
        self, text: str, *, part: int | None = None, idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Message:
        """Replace the text (of bubble ``part`` of a multipart message); returns the edited
        message."""
        return self.space._ops.edit(self, check_text("text", text), part=self._part(part),
                                    idempotency_key=_key(idempotency_key),
                                    timeout=check_timeout(timeout))

    def unsend(
        self, *, part: int | None = None, idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Retract the message (or only bubble ``part`` of a multipart message)."""
        self.space._ops.unsend(self, part=self._part(part),
                               idempotency_key=_key(idempotency_key),
                               timeout=check_timeout(timeout))

    def place_sticker(
        self, image: FileInput, *, part: int | None = None, x: float = 0.5, y: float = 0.5,
        scale: float | None = None, rotation: float | None = None,
        width: float | None = None, idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Message:
        """Stick an image (a path, bytes or a binary file object; PNG or HEIC with
        transparency looks best) on the message at ``x``/``y`` (fractions of the bubble,
        0 to 1), optionally scaled (``scale`` > 0), rotated (``rotation``, radians) and
        sized (``width``, points); ``part`` picks a bubble of a multipart message. Returns
        the message as it is now, with the sticker in ``stickers``."""
        from ._feature_values import StickerPlacement

        placement = StickerPlacement(x=x, y=y, scale=scale, rotation=rotation, width=width)
        source = file_source(image)
        return self.space._ops.place_sticker(
            self, source, self._part(part), placement, idempotency_key=_key(idempotency_key),
            timeout=check_timeout(timeout))

    def notify_anyway(self, *, idempotency_key: str | None = None,
                      timeout: float | None = None) -> None:
        """"Notify anyway": alert a recipient whose Focus silenced this message (see
        ``client.focus_status()``); only for messages this line sent."""
        self.space._ops.notify_anyway(self, idempotency_key=_key(idempotency_key),
                                      timeout=check_timeout(timeout))

    def embedded_media(self, *, timeout: float | None = None) -> EmbeddedMedia:
        """The media embedded in the message itself rather than attached (a Digital Touch
        sketch, a handwritten message): its bytes and MIME type (GetEmbeddedMedia)."""
        return self.space._ops.embedded_media(self, timeout=check_timeout(timeout))

    def contact(self, *, timeout: float | None = None) -> Contact | None:
        """The contact card (vCard) the message carries, parsed; None when it carries
        none. Downloads the card (see :meth:`Space.send_contact`)."""

        from ._contacts import contact_of  # on first use (see the module's imports)

        return contact_of(self, check_timeout(timeout))

    def update_app_card(
        self, layout: CardLayout | None = None, *, url: str | None = None,
        live: bool | None = None, idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Message:
        """Change an app card this line sent (:meth:`Space.send_app_card`): a new
        ``layout`` and/or ``url``; the card keeps its app. Returns the updated card's
        message."""

        from ._app_cards import updated_card  # on first use (see the module's imports)

        card = updated_card(self, layout, url, live)
        return self.space._ops.update_app_card(self, card, idempotency_key=_key(
            idempotency_key), timeout=check_timeout(timeout))


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Reaction(Received):
    """A tapback added to (``added``) or removed from the message ``message_guid``."""

    kind: ClassVar[str] = "reaction"

    message_guid: str
    emoji: str
    space: Space
    added: bool = True
    sender: User | None = None
    is_from_me: bool = False
    part_index: int | None = None
    occurred_at: datetime | None = None
