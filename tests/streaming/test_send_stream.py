"""space.send_stream / message.reply_stream against the emulator: one bubble, paced edits,
the chunk shapes of the LLM SDKs, and bad streams."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace as NS
from typing import Any

import pytest

import spectrum_sync as spectrum
from spectrum_sync import Space
from spectrum_sync._streaming import stream_text
from spectrum_sync.emulator import Emulator


class FakeClock:
    """A monotonic clock the test moves: the stream's pace without real seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def paced(clock: FakeClock, chunks: list[str], step: float) -> Iterator[str]:
    """``chunks``, the clock moving ``step`` seconds before each."""
    for chunk in chunks:
        clock.now += step
        yield chunk


def stream(dm: Space, chunks: Any, clock: FakeClock | None = None, **kwargs: Any
           ) -> spectrum.Message:
    kwargs.setdefault("extract", None)
    return stream_text(dm, chunks, reply_to=kwargs.pop("reply_to", None),
                       idempotency_key=None, timeout=10, clock=clock or FakeClock(), **kwargs)


def sends(emu: Emulator) -> list[str]:
    return [c.request.text for c in emu.requests if c.method == "SendTextMessage"]


def edits(emu: Emulator) -> list[str]:
    return [c.request.new_text for c in emu.requests if c.method == "EditMessage"]


def stored(emu: Emulator, guid: str) -> str:
    [text] = [m["text"] for m in emu.messages() if m["guid"] == guid]
    return str(text)


def test_first_text_at_once_then_edits_1_2_4_8_seconds_apart(emu: Emulator, dm: Space
                                                             ) -> None:
    clock = FakeClock()
    words = [f"w{i} " for i in range(40)]  # one every 0.5 s: 20 s of answer
    message = stream(dm, paced(clock, words, 0.5), clock)
    full = "".join(words)
    assert sends(emu) == ["w0 "]
    # Sent at 0.5 s; edits when 1, 2, 4, 8 s have passed since the last change, then the
    # whole text: five edits, Apple's limit.
    assert edits(emu) == ["".join(words[:n]) for n in (3, 7, 15, 31)] + [full]
    assert message.text == full and stored(emu, message.guid) == full
    assert message.edited_at is not None


def test_a_fast_stream_is_one_send_and_one_edit(emu: Emulator, dm: Space) -> None:
    message = stream(dm, iter(["Hello", ", ", "world"]))
    assert sends(emu) == ["Hello"] and edits(emu) == ["Hello, world"]
    assert message.text == "Hello, world"


def test_one_chunk_is_one_send_and_no_edit(emu: Emulator, dm: Space) -> None:
    message = stream(dm, ["All done."])
    assert sends(emu) == ["All done."] and edits(emu) == []
    assert message.text == "All done." and message.edited_at is None


def test_edits_never_pass_five_however_long_the_stream(emu: Emulator, dm: Space) -> None:
    clock = FakeClock()
    message = stream(dm, paced(clock, ["x"] * 200, 30.0), clock)
    assert len(edits(emu)) == 5 and edits(emu)[-1] == "x" * 200
    assert message.text == "x" * 200


def test_unchanged_text_is_never_sent_again(emu: Emulator, dm: Space) -> None:
    clock = FakeClock()
    # The last chunk lands when an interim edit is due: it shows the whole text, so the
    # end needs no edit; empty chunks in between change nothing.
    message = stream(dm, paced(clock, ["a", "", "b", ""], 1.0), clock)
    assert sends(emu) == ["a"] and edits(emu) == ["ab"]
    assert message.text == "ab"


def test_leading_whitespace_waits_for_text(emu: Emulator, dm: Space) -> None:
    message = stream(dm, ["", "\n", " ", "Hi"])
    assert sends(emu) == ["\n Hi"] and edits(emu) == []
    assert message.text == "\n Hi"


def test_public_api_end_to_end_with_the_real_clock(emu: Emulator, dm: Space) -> None:
    def answer() -> Iterator[str]:
        yield "Thinking"
        time.sleep(1.1)  # past the first gap: the next chunk is shown by an edit
        yield " done"
        yield "."

    message = dm.send_stream(answer())
    assert sends(emu) == ["Thinking"]
    # "." comes at once after " done": within the 2 s gap, so only the final edit shows it.
    assert edits(emu) == ["Thinking done", "Thinking done."]
    assert message.text == "Thinking done." and stored(emu, message.guid) == "Thinking done."
    [history] = dm.history(limit=1)
    assert history.guid == message.guid and history.text == "Thinking done."


def test_reply_stream_threads_the_bubble(emu: Emulator, dm: Space) -> None:
    question = dm.send("What is 6 x 7?")
    answer = question.reply_stream(["4", "2"])
    [_, first] = [c.request for c in emu.requests if c.method == "SendTextMessage"]
    assert first.reply_to.message_guid == question.guid
    assert answer.text == "42" and answer.reply_to_guid == question.guid


# ----- the chunks of the LLM SDKs (stand-ins of the same shape) ---------------------------


def openai_responses(text: list[str]) -> Iterator[Any]:
    yield NS(type="response.created", response=NS(id="resp_1"))
    yield NS(type="response.output_item.added", item=NS(type="message"))
    for delta in text:
        yield NS(type="response.output_text.delta", delta=delta, item_id="msg_1")
    yield NS(type="response.output_text.done", text="".join(text))
    yield NS(type="response.completed", response=NS(id="resp_1"))


def openai_chat(text: list[str]) -> Iterator[Any]:
    yield NS(object="chat.completion.chunk", choices=[NS(delta=NS(role="assistant",
                                                                  content=None))])
    for delta in text:
        yield NS(object="chat.completion.chunk", choices=[NS(delta=NS(content=delta))])
    yield NS(object="chat.completion.chunk", choices=[NS(delta=NS(content=None),
                                                        finish_reason="stop")])
    yield NS(object="chat.completion.chunk", choices=[], usage=NS(total_tokens=9))


def anthropic(text: list[str]) -> Iterator[Any]:
    yield NS(type="message_start", message=NS(id="msg_1"))
    yield NS(type="content_block_start", index=0, content_block=NS(type="text", text=""))
    yield NS(type="ping")
    for delta in text:
        yield NS(type="content_block_delta", index=0, delta=NS(type="text_delta", text=delta))
    yield NS(type="content_block_stop", index=0)
    yield NS(type="content_block_delta", index=1,
             delta=NS(type="input_json_delta", partial_json='{"a": 1}'))
    yield NS(type="message_delta", delta=NS(stop_reason="end_turn"))
    yield NS(type="message_stop")


@pytest.mark.parametrize("source", [openai_responses, openai_chat, anthropic])
def test_llm_sdk_chunks_are_read_by_their_shape(emu: Emulator, dm: Space, source: Any
                                               ) -> None:
    message = dm.send_stream(source(["The answer", " is", " 42."]))
    assert message.text == "The answer is 42."
    assert sends(emu) == ["The answer"]


def test_events_decoded_as_dicts_are_read_too(emu: Emulator, dm: Space) -> None:
    events = [{"type": "response.output_text.delta", "delta": "Hi"},
              {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "!"}},
              {"choices": [{"delta": {"content": "?"}}]}]
    assert dm.send_stream(events).text == "Hi!?"


def test_extract_reads_any_other_chunk(emu: Emulator, dm: Space) -> None:
    tokens = [NS(token="Bon"), NS(token="jour"), NS(token=None)]
    assert dm.send_stream(tokens, extract=lambda chunk: chunk.token).text == "Bonjour"


# ----- bad streams --------------------------------------------------------------------------


@pytest.mark.parametrize("chunks", [[], iter([]), ["", ""], [" ", "\n"], openai_chat([])])
def test_a_stream_without_text_is_a_clear_error_and_sends_nothing(
        emu: Emulator, dm: Space, chunks: Any) -> None:
    emu.clear_requests()
    with pytest.raises(spectrum.ValidationError, match="no text: nothing to send"):
        dm.send_stream(chunks)
    assert sends(emu) == []


def test_a_stream_that_raises_midway_keeps_the_bubble_and_the_error_reaches_you(
        emu: Emulator, dm: Space) -> None:
    clock = FakeClock()

    def broken() -> Iterator[str]:
        yield "Part one."
        clock.now += 1.5
        yield " Part two."
        yield " Part three."  # received but not yet shown when the failure comes
        raise TimeoutError("the model's connection dropped")

    with pytest.raises(TimeoutError, match="connection dropped"):
        stream(dm, broken(), clock)
    [message] = [m for m in emu.messages() if m["is_from_me"]]
    assert message["text"] == "Part one. Part two."  # as last shown; never unsent
    assert sends(emu) == ["Part one."] and edits(emu) == ["Part one. Part two."]


class Recorded:
    """An SDK-like stream that must be closed (it holds an HTTP response)."""

    def __init__(self, chunks: list[str]) -> None:
        self.chunks = iter(chunks)
        self.closed = False

    def __iter__(self) -> Recorded:
        return self

    def __next__(self) -> str:
        return next(self.chunks)

    def close(self) -> None:
        self.closed = True


def test_a_failed_edit_reaches_you_and_closes_the_stream(emu: Emulator, dm: Space) -> None:
    chunks = Recorded(["one", " two", " three"])
    emu.fail_next(1, "FAILED_PRECONDITION", retryable=False, method="EditMessage",
                  error_code="privateApiUnavailable")
    with pytest.raises(spectrum.UnsupportedError):
        dm.send_stream(chunks)
    assert chunks.closed
    assert [m["text"] for m in emu.messages() if m["is_from_me"]] == ["one"]


def test_a_stream_that_ends_is_closed(emu: Emulator, dm: Space) -> None:
    chunks = Recorded(["a", "b"])
    dm.send_stream(chunks)
    assert chunks.closed


class SdkStream:
    """Like the SDKs' Stream: iterating gives a generator; the response is closed by the
    Stream object itself."""

    def __init__(self) -> None:
        self.closed = 0

    def __iter__(self) -> Iterator[str]:
        yield from ["x", "y"]

    def close(self) -> None:
        self.closed += 1


def test_an_sdk_stream_object_is_closed_once(emu: Emulator, dm: Space) -> None:
    stream = SdkStream()
    assert dm.send_stream(stream).text == "xy"
    assert stream.closed == 1


@pytest.mark.parametrize("chunks", ["a string", b"bytes", 42, None])
def test_not_a_stream(emu: Emulator, dm: Space, chunks: Any) -> None:
    with pytest.raises(spectrum.ValidationError, match="iterable of chunks"):
        dm.send_stream(chunks)
    assert sends(emu) == []


def test_an_unknown_chunk_asks_for_extract(emu: Emulator, dm: Space) -> None:
    with pytest.raises(spectrum.ValidationError, match=r"Token chunk.*extract="):
        dm.send_stream([type("Token", (), {})()])
    with pytest.raises(spectrum.ValidationError, match="extract= returned a int"):
        dm.send_stream(["a"], extract=lambda chunk: 7)
    with pytest.raises(spectrum.ValidationError, match="extract= takes a function"):
        dm.send_stream(["a"], extract="text")  # type: ignore[arg-type]
    with pytest.raises(spectrum.ValidationError, match="chunk's text is a int"):
        dm.send_stream([NS(type="response.output_text.delta", delta=5)])
    assert sends(emu) == []


class _Local:
    """What a space's backend says of itself on a Mac (nothing else is reached)."""

    mode = "local"


def test_local_mode_refuses_streams_before_sending() -> None:
    space = Space(id="iMessage;-;+15551111111", type="dm", phone="", ops=_Local())
    with pytest.raises(spectrum.UnsupportedError, match=r"streamed text.*local mode"):
        space.send_stream(["a", "b"])
