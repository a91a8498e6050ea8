"""What a tapback may be: one of the six classic names, or a single emoji.

A leaf module. ``check_reaction`` refuses anything else before a request is built: "hello",
two emoji, or a letter followed by a variation selector are mistakes, and the service would
either reject them or show something the caller did not mean.
"""

from __future__ import annotations

from ._errors import ValidationError

__all__ = ["TAPBACK_NAMES", "check_reaction", "is_single_emoji"]

#: Classic tapbacks by name (the emoji that stands for each on the wire).
TAPBACK_NAMES = {
    "love": "❤️",
    "like": "👍",
    "dislike": "👎",
    "laugh": "😂",
    "emphasize": "‼️",
    "question": "❓",
}

# Code points that start an emoji (an approximation of Unicode's Extended_Pictographic
# property, which the standard library does not expose), as sorted inclusive ranges.
_PICTOGRAPHIC = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049),
    (0x2122, 0x2122), (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA),
    (0x231A, 0x231B), (0x2328, 0x2328), (0x23CF, 0x23CF), (0x23E9, 0x23F3),
    (0x23F8, 0x23FA), (0x24C2, 0x24C2), (0x25AA, 0x25AB), (0x25B6, 0x25B6),
    (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x27BF), (0x2934, 0x2935),
    (0x2B05, 0x2B07), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50), (0x2B55, 0x2B55),
    (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3297), (0x3299, 0x3299),
    (0x1F000, 0x1F1E5), (0x1F200, 0x1FAFF), (0x1FC00, 0x1FFFD),
)
_REGIONAL = (0x1F1E6, 0x1F1FF)
_SKIN_TONES = (0x1F3FB, 0x1F3FF)
_VS15, _VS16, _ZWJ, _KEYCAP = 0xFE0E, 0xFE0F, 0x200D, 0x20E3
_TAG_FLAG, _TAG_END = 0x1F3F4, 0xE007F


def _pictographic(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _PICTOGRAPHIC)


def _element(cps: list[int], i: int) -> int:
    """Index after one emoji element starting at ``i`` (pictograph, variation selector,
    skin tone), or -1."""
    if i >= len(cps) or not _pictographic(cps[i]) or _SKIN_TONES[0] <= cps[i] <= _SKIN_TONES[1]:
        return -1
    i += 1
    if i < len(cps) and cps[i] in (_VS15, _VS16):
        i += 1
    if i < len(cps) and _SKIN_TONES[0] <= cps[i] <= _SKIN_TONES[1]:
        i += 1
    return i


def is_single_emoji(text: str) -> bool:
    """Whether ``text`` is exactly one emoji grapheme: a pictograph (with variation selector,
    skin tone and ZWJ joins), a flag (two regional indicators or a tag sequence) or a
    keycap."""
    cps = [ord(ch) for ch in text]
    if not cps:
        return False
    if len(cps) == 2 and all(_REGIONAL[0] <= cp <= _REGIONAL[1] for cp in cps):
        return True
    if text[0] in "0123456789#*" and cps[-1] == _KEYCAP:
        return len(cps) == 2 or (len(cps) == 3 and cps[1] == _VS16)
    if cps[0] == _TAG_FLAG and len(cps) > 2 and cps[-1] == _TAG_END:
        return all(0xE0020 <= cp <= 0xE007E for cp in cps[1:-1])
    i = _element(cps, 0)
    while 0 < i < len(cps) and cps[i] == _ZWJ:
        i = _element(cps, i + 1)
    return i == len(cps)


def check_reaction(value: object) -> str:
    """The emoji for a tapback given as a classic name or a single emoji."""
    if not isinstance(value, str):
        raise ValidationError(f"a reaction must be a string, not {type(value).__name__}")
    text = value.strip()
    named = TAPBACK_NAMES.get(text.lower())
    if named is not None:
        return named
    if text.lower() == "sticker":
        raise ValidationError("a sticker is not a tapback; the service rejects STICKER here")
    if not is_single_emoji(text):
        names = ", ".join(TAPBACK_NAMES)
        raise ValidationError(
            f"a reaction must be one emoji or a tapback name ({names}), not {value!r}"
        )
    return text
