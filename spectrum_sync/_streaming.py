"""Streamed text: one bubble that grows as an LLM answers (``space.send_stream``).

As the official SDK does it for iMessage (docs/behaviour.md, "Streamed text"): the first text
is sent at once as a message, which is then edited in place as more text arrives; an interim
edit only when the last send or edit is at least 1 s, 2 s, 4 s, 8 s old (doubling each time),
at most four of them, and a final edit with the whole text when the stream ends, so at most
five edits (Apple's limit). A text already shown is never sent again. Nothing waits: the pace
is the stream's, each chunk is only checked against the clock.

Chunks are strings or the objects the common LLM SDKs yield, recognised by their shape
(:func:`chunk_text`); ``extract=`` reads any other kind.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional

from ._errors import UnsupportedError, ValidationError

if TYPE_CHECKING:
    from ._models import Message, Space

__all__ = ["MAX_EDITS", "Extract", "chunk_text", "stream_text"]

#: Apple lets a message be edited five times.
MAX_EDITS = 5
FIRST_GAP = 1.0
GAP_FACTOR = 2.0

Extract = Callable[[Any], Optional[str]]

_OPENAI_TEXT_DELTA = "response.output_text.delta"
_ANTHROPIC_TEXT_DELTA = "content_block_delta"
# Events of the two SDKs' streams that carry no text: skipped, not refused.
_ANTHROPIC_OTHER = frozenset({"message_start", "message_delta", "message_stop",
                              "content_block_start", "content_block_stop", "ping"})


def _field(chunk: Any, name: str) -> Any:
    """An attribute of an SDK object, or the key of the same event decoded as a dict."""
    if isinstance(chunk, Mapping):
        return chunk.get(name)
    return getattr(chunk, name, None)


def chunk_text(chunk: Any) -> str | None:
    """The text a chunk adds (None for an event that carries none).

    Known shapes: a ``str``; an OpenAI Responses ``response.output_text.delta`` event
    (``.delta``); an OpenAI Chat Completions chunk (``.choices[0].delta.content``); an
    Anthropic ``content_block_delta`` event (``.delta.text``). Objects or dicts alike.
    :class:`ValidationError` for any other kind: pass ``extract=``."""
    if isinstance(chunk, str):
        return chunk
    kind = _field(chunk, "type")
    if kind == _OPENAI_TEXT_DELTA:
        return _checked(_field(chunk, "delta"), chunk)
    if kind == _ANTHROPIC_TEXT_DELTA:
        # Tool-use streams send input_json_delta blocks: not text for the reader.
        return _checked(_field(_field(chunk, "delta"), "text"), chunk)
    if isinstance(kind, str) and (kind.startswith("response.") or kind in _ANTHROPIC_OTHER):
        return None
    choices = _field(chunk, "choices")
    if choices is not None and not isinstance(choices, (str, bytes)):
        choices = list(choices)
        if not choices:  # the usage chunk that ends a Chat Completions stream
            return None
        return _checked(_field(_field(choices[0], "delta"), "content"), chunk)
    raise ValidationError(
        f"send_stream cannot read text from a {type(chunk).__name__} chunk: stream str, "
        "OpenAI or Anthropic stream events, or pass extract=lambda chunk: ... returning the "
        "chunk's text")


def _checked(text: object, chunk: Any) -> str | None:
    if text is None or isinstance(text, str):
        return text
    raise ValidationError(f"a {type(chunk).__name__} chunk's text is a "
                          f"{type(text).__name__}, not a str")


class _Bubble:
    """The message being streamed into and what it shows."""

    def __init__(self, space: Space, *, reply_to: str | None, idempotency_key: str | None,
                 timeout: float | None, clock: Callable[[], float]) -> None:
        self.space = space
        self.reply_to = reply_to
        self.idempotency_key = idempotency_key
        self.timeout = timeout
        self.clock = clock
        self.message: Message | None = None
        self.shown = ""
        self.edits = 0
        self.changed_at = 0.0

    def offer(self, text: str) -> None:
        """Show ``text`` now if the budget and the pace allow it."""
        if self.message is None:
            # Leading whitespace alone ("\n" before an answer) is not worth a bubble.
            if text.strip():
                self.message = self.space._ops.send_text(
                    self.space, text, reply_to=self.reply_to, effect=None, subject=None,
                    formatting=(), idempotency_key=self.idempotency_key,
                    timeout=self.timeout)
                self._shown(text)
            return
        # The last edit of the budget is kept for the whole text at the end.
        if self.edits < MAX_EDITS - 1 and \
                self.clock() - self.changed_at >= FIRST_GAP * GAP_FACTOR ** self.edits:
            self.edit(text)

    def edit(self, text: str) -> None:
        if self.message is None or text == self.shown:
            return
        self.message = self.space._ops.edit(self.message, text, idempotency_key=None,
                                            timeout=self.timeout)
        self.edits += 1
        self._shown(text)

    def _shown(self, text: str) -> None:
        self.shown = text
        self.changed_at = self.clock()


def _close(*streams: object) -> None:
    """Close the iterator and the stream it came from (an SDK's ``Stream`` object holds an
    HTTP response open until closed): at the end of the text and after a failure alike."""
    closed: list[object] = []
    for stream in streams:
        close = getattr(stream, "close", None)
        if callable(close) and not any(stream is done for done in closed):
            closed.append(stream)
            close()


def stream_text(space: Space, chunks: Iterable[Any], *, extract: Extract | None,
                reply_to: str | None, idempotency_key: str | None, timeout: float | None,
                clock: Callable[[], float] = time.monotonic) -> Message:
    """Send ``chunks`` as one message edited as they come; the message with the whole text.

    An exception from ``chunks`` propagates as is: the message keeps the text it showed
    last. A stream with no text raises :class:`ValidationError` before anything is sent."""
    if isinstance(chunks, (str, bytes)) or not isinstance(chunks, Iterable):
        raise ValidationError("send_stream takes an iterable of chunks (a generator, an SDK "
                              f"stream), not {type(chunks).__name__}")
    if space._ops.mode == "local":
        # Without edits the first chunk would stand alone: refused before anything is sent.
        raise UnsupportedError("streamed text", "local", "Messages' scripting cannot edit a "
                               "message; send the whole text with send()")
    if extract is not None and not callable(extract):
        raise ValidationError("extract= takes a function of a chunk returning its text")
    read = chunk_text if extract is None else extract
    bubble = _Bubble(space, reply_to=reply_to, idempotency_key=idempotency_key,
                     timeout=timeout, clock=clock)
    full = ""
    iterator = iter(chunks)
    try:
        for chunk in iterator:
            text = read(chunk)
            if not text:
                continue
            if not isinstance(text, str):
                raise ValidationError(
                    f"extract= returned a {type(text).__name__}, not a str (or None)")
            full += text
            bubble.offer(full)
    finally:
        _close(iterator, chunks)
    if bubble.message is None:
        raise ValidationError("the stream produced no text: nothing to send")
    bubble.edit(full)
    return bubble.message
