"""Mini-app cards: the card layout, a received card, and link cards built from Open Graph tags.

``space.send_app_card(...)`` sends ``SendCustomizedMiniAppMessage``; ``message.update_app_card``
sends ``UpdateCustomizedMiniAppMessage`` (docs/behaviour.md, "App cards"). The layout rules
are the service's: at least one caption or an image, ``image`` and ``image_title`` together,
``image_subtitle`` only with an image, no empty strings.
"""

from __future__ import annotations

import io
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import SpectrumError, ValidationError
from ._records import field_methods

if TYPE_CHECKING:
    from ._models import Message

__all__ = ["AppCard", "CardLayout", "check_app", "check_url", "link_layout", "new_card",
           "updated_card"]

_TEXT_FIELDS = ("caption", "subcaption", "trailing_caption", "trailing_subcaption",
                "image_title", "image_subtitle", "summary")
#: Bytes read at most from a page or an image for a link card.
MAX_FETCH = 5 * 1024 * 1024


def _optional_text(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValidationError(f"card layout {attribute.name} must be a non-empty string or "
                              f"None, not {value!r}")


def _image(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and (not isinstance(value, bytes) or not value):
        raise ValidationError("card layout image must be non-empty JPEG bytes or None")
    if value is not None and not is_jpeg(value):
        raise ValidationError("card layout image must be a JPEG (install spectrum-sync[imaging] "
                              "to convert other images with Pillow, see CardLayout.with_image)")


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class CardLayout:
    """What recipients see in an app card's bubble. At least one of ``caption``,
    ``subcaption``, ``trailing_caption``, ``trailing_subcaption`` or ``image`` (JPEG bytes);
    ``image`` and ``image_title`` go together; ``image_subtitle`` needs an image. Broken
    rules raise :class:`ValidationError` when the layout is made."""

    caption: str | None = attrs.field(default=None, validator=_optional_text)
    subcaption: str | None = attrs.field(default=None, validator=_optional_text)
    trailing_caption: str | None = attrs.field(default=None, validator=_optional_text)
    trailing_subcaption: str | None = attrs.field(default=None, validator=_optional_text)
    image_title: str | None = attrs.field(default=None, validator=_optional_text)
    image_subtitle: str | None = attrs.field(default=None, validator=_optional_text)
    summary: str | None = attrs.field(default=None, validator=_optional_text)
    image: bytes | None = attrs.field(default=None, validator=_image, repr=False)

    def __attrs_post_init__(self) -> None:
        if not (self.caption or self.subcaption or self.trailing_caption
                or self.trailing_subcaption or self.image):
            raise ValidationError("a card layout needs at least one of caption, subcaption, "
                                  "trailing_caption, trailing_subcaption or image")
        if (self.image is None) != (self.image_title is None):
            raise ValidationError("a card layout's image and image_title go together")
        if self.image_subtitle is not None and self.image is None:
            raise ValidationError("a card layout's image_subtitle needs an image")

    @staticmethod
    def jpeg(image: bytes) -> bytes:
        """``image`` as JPEG bytes: as is when it already is one, else converted with
        Pillow (the ``imaging`` extra); :class:`ValidationError` otherwise."""
        return to_jpeg(image)


@field_methods
@attrs.frozen(kw_only=True, repr=False, eq=False)
class AppCard:
    """A mini-app card carried by a message (``message.app_card``): the iMessage extension
    (``team_id``, ``bundle_id``, ``app_name``, ``app_store_id``), the ``url`` it opens,
    ``session_id`` (which :meth:`Message.update_app_card` needs), ``live`` and the
    ``layout`` shown (None when the card came without one)."""

    team_id: str
    bundle_id: str
    app_name: str | None = None
    url: str | None = None
    session_id: str | None = None
    app_store_id: int | None = None
    live: bool = False
    layout: CardLayout | None = None
    #: The guid of the card's first message (an updated card points at it).
    target_guid: str | None = None


#: Spectrum's own iMessage extension, which opens a link card's URL on tap (the identity
#: the official SDK gives link cards).
SPECTRUM_APP = AppCard(team_id="P8XT6232SL", bundle_id="codes.photon.Spectrum.MessagesExtension",
                       app_name="Spectrum", app_store_id=6777616651)


def new_card(url: object, layout: object, team_id: object, bundle_id: object,
             app_name: object, app_store_id: object, live: object) -> AppCard:
    """A card to send, every argument checked (see :meth:`Space.send_app_card`)."""
    if not isinstance(layout, CardLayout):
        raise ValidationError(f"layout must be a CardLayout, not {type(layout).__name__}")
    check_app(team_id, bundle_id, app_name)
    if app_store_id is not None and (not isinstance(app_store_id, int)
                                     or isinstance(app_store_id, bool) or app_store_id < 1):
        raise ValidationError(f"app_store_id must be a positive integer, not {app_store_id!r}")
    if live is not None and not isinstance(live, bool):
        raise ValidationError(f"live must be True, False or None, not {live!r}")
    assert isinstance(team_id, str) and isinstance(bundle_id, str) and isinstance(app_name, str)
    return AppCard(team_id=team_id, bundle_id=bundle_id, app_name=app_name,
                   url=check_url(url), app_store_id=app_store_id, live=bool(live),
                   layout=layout)


def is_jpeg(data: bytes) -> bool:
    """Whether ``data`` starts like a JPEG file (the only image type a card takes)."""
    return len(data) > 2 and data[0] == 0xFF and data[1] == 0xD8


def to_jpeg(data: bytes) -> bytes:
    """JPEG bytes of an image (see :meth:`CardLayout.jpeg`)."""
    if not isinstance(data, bytes) or not data:
        raise ValidationError("a card image must be non-empty bytes")
    if is_jpeg(data):
        return data
    try:
        from PIL import Image  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ValidationError("a card image must be a JPEG; install spectrum-sync[imaging] "
                              "(Pillow) to convert other images") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=85)
    except Exception as exc:  # Pillow raises many types for unreadable data
        raise ValidationError(f"the card image could not be read: {exc}") from None
    return out.getvalue()


def updated_card(message: Message, layout: CardLayout | None, url: str | None,
                 live: bool | None) -> AppCard:
    """The card ``message`` carries with the changes asked for, checked."""
    card = message.app_card
    if card is None or not card.session_id:
        raise ValidationError(f"message {message.guid} carries no app card this line sent "
                              "(use the message send_app_card returned)")
    if layout is not None and not isinstance(layout, CardLayout):
        raise ValidationError(f"layout must be a CardLayout, not {type(layout).__name__}")
    if layout is None and url is None and live is None:
        raise ValidationError("update_app_card needs a new layout, url or live")
    changes: dict[str, Any] = {}
    if layout is not None:
        changes["layout"] = layout
    if url is not None:
        changes["url"] = check_url(url)
    if live is not None:
        changes["live"] = bool(live)
    if (changes.get("layout") or card.layout) is None:
        raise ValidationError("the card has no layout to keep: give layout=")
    return attrs.evolve(card, **changes)


_TEAM_ID = r"[A-Z0-9]{10}"  # compiled on first use (re caches it): few scripts send cards


def check_app(team_id: object, bundle_id: object, app_name: object) -> None:
    """An iMessage extension as the service names it: Apple's 10-character upper-case team
    id, a bundle id without ``:`` (the service joins the two with ``:``), an app name."""
    if not isinstance(team_id, str) or not re.fullmatch(_TEAM_ID, team_id):
        raise ValidationError(f"team_id must be Apple's 10-character upper-case team id, "
                              f"not {team_id!r}")
    if not isinstance(bundle_id, str) or not bundle_id.strip() or ":" in bundle_id:
        raise ValidationError(f"bundle_id must be a non-empty bundle identifier without ':', "
                              f"not {bundle_id!r}")
    if not isinstance(app_name, str) or not app_name.strip():
        raise ValidationError(f"app_name must be a non-empty string, not {app_name!r}")


def check_url(url: object) -> str:
    """An absolute http(s) URL."""
    if not isinstance(url, str):
        raise ValidationError(f"url must be a string, not {type(url).__name__}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(f"url must be an absolute http(s) URL, not {url!r}")
    return url


# ----- link cards ---------------------------------------------------------------------------


def _fetch(url: str, timeout: float) -> tuple[bytes, str]:
    # Imported here: urllib.request brings ssl and more, which a process that never makes a
    # link card should not pay for when it first uses a Message.
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "spectrum-sync link card"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read(MAX_FETCH), response.headers.get_content_charset() or "utf-8"
    except (OSError, ValueError) as exc:
        raise SpectrumError(f"could not fetch {url}: {exc}", code="networkError",
                            retryable=True) from None


def link_layout(url: str, timeout: float) -> CardLayout:
    """A card layout from the page's Open Graph tags, as the official SDK builds it: the
    title (``og:title``, else ``og:site_name``, else the host) as caption and summary, the
    description as subcaption, ``og:image`` (as JPEG) with the site name over it. A page
    that cannot be fetched or read gives a host-only card; an image that cannot be used is
    left out."""
    host = urllib.parse.urlsplit(url).netloc.removeprefix("www.")
    try:
        body, charset = _fetch(url, timeout)
    except SpectrumError:
        return CardLayout(caption=host, summary=host)
    # Imported here: html.parser (about 5 ms) is for link cards only, and a process that
    # only sends text should not pay for it (bench/oneshot.py).
    from ._open_graph import OpenGraph

    page = OpenGraph()
    try:
        page.feed(body.decode(charset, errors="replace"))
    except LookupError:  # an unknown charset: read it as UTF-8
        page.feed(body.decode("utf-8", errors="replace"))
    tags = page.tags
    site = tags.get("og:site_name") or None
    title = tags.get("og:title") or page.title.strip() or site or host
    summary = tags.get("og:description") or tags.get("description") or None
    image = None
    if tags.get("og:image"):
        try:
            image = to_jpeg(_fetch(urllib.parse.urljoin(url, tags["og:image"]), timeout)[0])
        except SpectrumError:
            image = None  # a card without its picture beats no card
    if image is not None:
        return CardLayout(caption=title, subcaption=summary, image=image,
                          image_title=site or title, summary=title)
    return CardLayout(caption=title, subcaption=summary, summary=title)
