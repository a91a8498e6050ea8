"""Message effects (expressive sends) and text effects, by the names users write.

The names are those of Spectrum's official iMessage provider; Apple identifies the effects by
reverse-DNS ids, which travel on the wire (``effect_id``, ``expressive_send_style_id``).
"""

from __future__ import annotations

from ._errors import ValidationError

__all__ = ["MESSAGE_EFFECTS", "TEXT_EFFECTS", "effect_id", "effect_name"]

#: Effect name -> Apple's id (full-screen effects and bubble effects).
MESSAGE_EFFECTS: dict[str, str] = {
    "balloons": "com.apple.messages.effect.CKBalloonEffect",
    "celebration": "com.apple.messages.effect.CKHappyBirthdayEffect",
    "confetti": "com.apple.messages.effect.CKConfettiEffect",
    "echo": "com.apple.messages.effect.CKEchoEffect",
    "fireworks": "com.apple.messages.effect.CKFireworksEffect",
    "gentle": "com.apple.MobileSMS.expressivesend.gentle",
    "heart": "com.apple.messages.effect.CKHeartEffect",
    "invisible": "com.apple.MobileSMS.expressivesend.invisibleink",
    "lasers": "com.apple.messages.effect.CKLasersEffect",
    "loud": "com.apple.MobileSMS.expressivesend.loud",
    "slam": "com.apple.MobileSMS.expressivesend.impact",
    "sparkles": "com.apple.messages.effect.CKSparklesEffect",
    "spotlight": "com.apple.messages.effect.CKSpotlightEffect",
}
_NAMES = {value: key for key, value in MESSAGE_EFFECTS.items()}

#: Per-word animations of formatted text (``TextFormat(type="effect", effect=...)``).
TEXT_EFFECTS = ("big", "small", "shake", "nod", "explode", "ripple", "bloom", "jitter")

_MAX_ID = 256


def effect_id(effect: object) -> str | None:
    """The wire id of ``effect``: a name (any case), or an id given as such (reverse-DNS,
    e.g. a newer effect this version does not name); None stays None."""
    if effect is None:
        return None
    if not isinstance(effect, str):
        raise ValidationError(f"effect must be a string or None, not {type(effect).__name__}")
    found = MESSAGE_EFFECTS.get(effect.strip().lower())
    if found is not None:
        return found
    if _looks_like_id(effect):
        return effect
    raise ValidationError(
        f"unknown effect {effect!r}: use one of {', '.join(MESSAGE_EFFECTS)} "
        "(or an effect id such as 'com.apple.messages.effect.CKConfettiEffect')")


def effect_name(effect_id: str | None) -> str | None:
    """The name of a known effect id (None for no effect or an id without a name)."""
    return _NAMES.get(effect_id) if effect_id else None


def _looks_like_id(value: str) -> bool:
    # Apple's ids are reverse-DNS names: dotted ASCII words, no spaces.
    parts = value.split(".")
    return (len(value) <= _MAX_ID and len(parts) >= 3 and value.isascii()
            and all(part and part.replace("_", "").replace("-", "").isalnum()
                    for part in parts))
