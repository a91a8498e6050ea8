"""send(markdown=...): markdown rendered as iMessage shows it, with good and malformed input."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

import spectrum_sync as spectrum
from spectrum_sync import Space, TextFormat
from spectrum_sync._markdown import render_markdown, to_monospace
from spectrum_sync.emulator import Emulator

BOLD, ITALIC, STRIKE = TextFormat.bold, TextFormat.italic, TextFormat.strikethrough


def sent(emu: Emulator) -> list[Any]:
    return [c.request for c in emu.requests if c.method == "SendTextMessage"]


@pytest.mark.parametrize(("markdown", "text", "formatting"), [
    ("**bold** *it* ~~gone~~", "bold it gone", (BOLD(0, 4), ITALIC(5, 2), STRIKE(8, 4))),
    ("***both***", "both", (BOLD(0, 4), ITALIC(0, 4))),
    ("**a *b* c**", "a b c", (BOLD(0, 5), ITALIC(2, 1))),
    # Offsets count UTF-16 code units: the emoji takes two.
    ("👋 **hi**", "👋 hi", (BOLD(3, 2),)),
    ("# Title\n\nbody", "Title\n\nbody", (BOLD(0, 5),)),
    ("## *Sub*", "Sub", (BOLD(0, 3), ITALIC(0, 3))),
    ("run `ls -a` now", f"run {to_monospace('ls -a')} now", ()),
    ("```py\nx = 1\n```", to_monospace("x = 1"), ()),
    ("    indented", to_monospace("indented"), ()),
    ("- a\n- b\n  - c", "• a\n• b\n  • c", ()),
    ("3. x\n4. y", "3. x\n4. y", ()),
    ("- [ ] todo", "• [ ] todo", ()),
    ("> quoted\n> **two**", "> quoted\n> two", (BOLD(11, 3),)),
    ("[docs](https://e.com/d)", "docs (https://e.com/d)", ()),
    ("<https://e.com>", "https://e.com", ()),
    ("![cat](https://e.com/c.png)", "cat (https://e.com/c.png)", ()),
    ("| a | b |\n|---|---|\n| 1 | 2 |", "a | b\n1 | 2", ()),
    ("one\n\n---\n\ntwo", "one\n\n———\n\ntwo", ()),
    ("line one\nline two", "line one\nline two", ()),
    ("a &amp; b", "a & b", ()),
    ("\n\n  **x**  \n\n", "x", (BOLD(0, 1),)),
])
def test_rendering(markdown: str, text: str, formatting: tuple[TextFormat, ...]) -> None:
    assert render_markdown(markdown) == (text, formatting)


def test_monospace_maps_letters_and_digits_only() -> None:
    assert to_monospace("Az09 é!") == "\U0001d670\U0001d6a3\U0001d7f6\U0001d7ff é!"


def test_send_markdown_sends_the_text_and_its_ranges(emu: Emulator, dm: Space) -> None:
    message = dm.send(markdown="## Order shipped\n\nTrack it **[here](https://e.com/t)**.")
    text = "Order shipped\n\nTrack it here (https://e.com/t)."
    assert message.text == text
    assert message.formatting == (BOLD(0, 13), BOLD(24, 22))
    [request] = sent(emu)
    assert request.text == text
    assert [(f.start, f.length) for f in request.formatting] == [(0, 13), (24, 22)]


def test_reply_with_markdown(emu: Emulator, dm: Space) -> None:
    question = dm.send("status?")
    answer = question.reply(markdown="*all green*")
    assert answer.text == "all green" and answer.formatting == (ITALIC(0, 9),)
    assert answer.reply_to_guid == question.guid


@pytest.mark.parametrize(("markdown", "text", "formatting"), [
    ("**never closed", "**never closed", ()),
    ("~~x", "~~x", ()),
    ("[label](", "[label](", ()),
    ("`unbalanced", "`unbalanced", ()),
    ("<div>", "<div>", ()),
    ("_snake_case_ x_y_z", "snake_case x_y_z", (ITALIC(0, 10),)),
    # CommonMark's reading of crossed markers: emphasis nested, no marker left.
    ("*a **b* c**", "a b c", (ITALIC(0, 5),)),
])
def test_malformed_markdown_is_shown_as_written(emu: Emulator, dm: Space, markdown: str,
                                               text: str, formatting: tuple[TextFormat, ...],
                                               ) -> None:
    # CommonMark refuses nothing: markup that does not close is literal text.
    message = dm.send(markdown=markdown)
    assert (message.text, message.formatting) == (text, formatting)
    assert sent(emu)[0].text == text


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"markdown": ""}, "markdown must not be empty"),
    ({"markdown": 42}, "markdown must be a string"),
    ({"markdown": "[x]: https://e.com"}, "renders to empty text"),
    ({"markdown": "   \n\n"}, "renders to empty text"),
    ({"markdown": "# "}, "renders to empty text"),
    ({"markdown": "<!-- -->"}, None),
    ({"text": "a", "markdown": "b"}, "either a text or markdown="),
    ({"markdown": "**b**", "formatting": [BOLD(0, 1)]}, "formatting= goes with a plain text"),
    ({}, "give the text to send, or markdown="),
])
def test_bad_markdown_arguments_send_nothing(emu: Emulator, dm: Space, kwargs: dict[str, Any],
                                            needle: str | None) -> None:
    if needle is None:  # raw HTML is shown as it is, as in the official renderer
        assert dm.send(**kwargs).text == kwargs["markdown"]
        return
    with pytest.raises(spectrum.ValidationError, match=needle):
        dm.send(**kwargs)
    assert sent(emu) == []


def test_without_the_extra_the_error_names_it() -> None:
    script = textwrap.dedent("""
        import sys
        sys.modules["markdown_it"] = None  # as if markdown-it-py were not installed
        import spectrum_sync
        from spectrum_sync._markdown import render_markdown
        try:
            render_markdown("**x**")
        except spectrum_sync.ConfigurationError as exc:
            print(exc.message)
        print(render_markdown.__name__)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert 'pip install "spectrum-sync[markdown]"' in proc.stdout
    assert "markdown-it-py" in proc.stdout
