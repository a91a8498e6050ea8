"""Tapback kinds and their emoji (LOVE is kind 0; any other emoji is kind EMOJI)."""

from __future__ import annotations

from spectrum_sync._proto import messages_pb2

_K = messages_pb2.MessageReactionKind

EMOJI_KINDS: dict[str, int] = {
    "❤️": _K.MESSAGE_REACTION_KIND_LOVE,
    "❤": _K.MESSAGE_REACTION_KIND_LOVE,
    "👍": _K.MESSAGE_REACTION_KIND_LIKE,
    "👎": _K.MESSAGE_REACTION_KIND_DISLIKE,
    "😂": _K.MESSAGE_REACTION_KIND_LAUGH,
    "‼️": _K.MESSAGE_REACTION_KIND_EMPHASIZE,
    "‼": _K.MESSAGE_REACTION_KIND_EMPHASIZE,
    "❓": _K.MESSAGE_REACTION_KIND_QUESTION,
}

NAMED_KINDS: dict[str, int] = {
    "love": _K.MESSAGE_REACTION_KIND_LOVE,
    "like": _K.MESSAGE_REACTION_KIND_LIKE,
    "dislike": _K.MESSAGE_REACTION_KIND_DISLIKE,
    "laugh": _K.MESSAGE_REACTION_KIND_LAUGH,
    "emphasize": _K.MESSAGE_REACTION_KIND_EMPHASIZE,
    "question": _K.MESSAGE_REACTION_KIND_QUESTION,
}


def reaction_for(emoji_or_kind: str | int) -> messages_pb2.MessageReaction:
    """❤️/👍/... or a kind name ("love") or number -> the tapback; other emoji -> EMOJI."""
    if isinstance(emoji_or_kind, int):
        if emoji_or_kind == _K.MESSAGE_REACTION_KIND_EMOJI:
            raise ValueError("an EMOJI reaction needs the emoji itself")
        return messages_pb2.MessageReaction(kind=emoji_or_kind)  # type: ignore[arg-type]
    if emoji_or_kind in EMOJI_KINDS:
        return messages_pb2.MessageReaction(
            kind=EMOJI_KINDS[emoji_or_kind])  # type: ignore[arg-type]
    named = NAMED_KINDS.get(emoji_or_kind.lower())
    if named is not None:
        return messages_pb2.MessageReaction(kind=named)  # type: ignore[arg-type]
    if not emoji_or_kind:
        raise ValueError("empty reaction")
    return messages_pb2.MessageReaction(kind=_K.MESSAGE_REACTION_KIND_EMOJI, emoji=emoji_or_kind)


# The emoji each tapback kind is shown as (EMOJI carries its own; STICKER has none).
KIND_EMOJI: dict[int, str] = {
    _K.MESSAGE_REACTION_KIND_LOVE: "❤️",
    _K.MESSAGE_REACTION_KIND_LIKE: "👍",
    _K.MESSAGE_REACTION_KIND_DISLIKE: "👎",
    _K.MESSAGE_REACTION_KIND_LAUGH: "😂",
    _K.MESSAGE_REACTION_KIND_EMPHASIZE: "‼️",
    _K.MESSAGE_REACTION_KIND_QUESTION: "❓",
}


def reaction_emoji(reaction: messages_pb2.MessageReaction) -> str | None:
    """The emoji a tapback is shown as (``None`` for a sticker or an empty EMOJI)."""
    if reaction.kind == _K.MESSAGE_REACTION_KIND_EMOJI:
        return reaction.emoji or None
    return KIND_EMOJI.get(reaction.kind)
