"""The text a message shows: plain text with its formats, or markdown rendered for iMessage.

iMessage has no markdown; a markdown text is sent as its rendered plain text with native
formatting ranges (docs/behaviour.md, "Markdown"). The layout is that of the official SDK's
iMessage renderer: headings bold, code in Unicode mathematical monospace, "• " and "1. " list
markers, "> " quotes, links as ``label (url)``, tables as ``a | b`` rows, rules as "———",
blocks separated by a blank line.

The parsing is CommonMark (with GFM strikethrough and tables) by ``markdown-it-py``, an
optional dependency: ``pip install "spectrum-sync[markdown]"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import ConfigurationError, UnsupportedError, ValidationError
from ._records import field_methods
from ._validate import check_text, utf16_length
from ._values import TextFormat, check_formatting

if TYPE_CHECKING:
    from ._models import Space

__all__ = ["link_preview_option", "render_markdown", "text_body", "to_monospace"]

_CLOUD_MODES = ("shared", "dedicated", "explicit")
_URL = r"(?i)https?://\S"  # compiled on first use (re caches it): few sends ask for a preview

_BULLET = "• "
_RULE = "———"
_NESTED_INDENT = "  "
_BLOCK_SEPARATOR = "\n\n"
_CELL_SEPARATOR = " | "
# The order of ranges that start at the same offset (the official renderer's).
_STYLES = ("bold", "italic", "strikethrough")
_INLINE_STYLES = {"strong": "bold", "em": "italic", "s": "strikethrough"}
# Unicode "mathematical monospace" letters and digits (U+1D670, U+1D68A, U+1D7F6).
_MONO = str.maketrans(
    {**{chr(ord("A") + i): chr(0x1D670 + i) for i in range(26)},
     **{chr(ord("a") + i): chr(0x1D68A + i) for i in range(26)},
     **{chr(ord("0") + i): chr(0x1D7F6 + i) for i in range(10)}})


@field_methods
@attrs.frozen(repr=False, eq=False)
class _Span:
    text: str
    styles: frozenset[str] = frozenset()


Spans = list[_Span]


def text_body(text: object, markdown: object, formatting: Iterable[TextFormat] | None,
              ) -> tuple[str, tuple[TextFormat, ...]]:
    """The text and formats to send: ``text`` with ``formatting``, or ``markdown`` rendered
    (exactly one of the two)."""

    if markdown is None:
        if text is None:
            raise ValidationError("give the text to send, or markdown=")
        checked = check_text("text", text)
        return checked, check_formatting(checked, formatting)
    if text is not None:
        raise ValidationError("give either a text or markdown=, not both")
    if formatting is not None:
        raise ValidationError("formatting= goes with a plain text: markdown= makes its own")
    return render_markdown(markdown)


def link_preview_option(space: Space, text: str, link_preview: object) -> dict[str, Any]:
    """The backend's ``link_preview`` argument: none unless asked for (docs/behaviour.md,
    "Link previews").

    Only the cloud backend takes it (a local Mac's scripting cannot ask for a rich link, and
    a webhook's space sends through a client's own space): the others are refused here."""
    if link_preview is False:
        return {}
    if link_preview is not True:
        raise ValidationError(f"link_preview must be True or False, not {link_preview!r}")
    mode = space._ops.mode
    if mode not in _CLOUD_MODES:
        how = ("Messages' scripting cannot ask for a rich link" if mode == "local" else
               "send through client.space.get(space.id) instead")
        raise UnsupportedError("link previews", mode, how)
    if not re.search(_URL, text):
        raise ValidationError("link_preview=True needs a text with an http:// or https:// "
                              "link to preview")
    return {"link_preview": True}


def to_monospace(text: str) -> str:
    """``text`` with ASCII letters and digits in Unicode monospace (iMessage has no code
    font); other characters unchanged."""
    return text.translate(_MONO)


def render_markdown(markdown: object) -> tuple[str, tuple[TextFormat, ...]]:
    """The text and formatting ranges (UTF-16 offsets) that show ``markdown`` in iMessage.

    :class:`ValidationError` when ``markdown`` is not a non-empty string or renders to no
    text (e.g. only a link reference definition); :class:`ConfigurationError` when the
    ``markdown`` extra is not installed. CommonMark accepts any text, so unbalanced markup
    (``**open``) is shown as written, as in iMessage."""
    source = check_text("markdown", markdown)
    spans = _trim(_blocks(_tree(source).children))
    text, formatting = _finalize(spans)
    if not text:
        raise ValidationError("markdown renders to empty text: nothing to send")
    return text, formatting


def _tree(source: str) -> Any:
    try:
        from markdown_it import MarkdownIt
        from markdown_it.tree import SyntaxTreeNode
    except ImportError:
        raise ConfigurationError(
            'markdown= needs the markdown-it-py package: pip install "spectrum-sync[markdown]"'
        ) from None
    parser = MarkdownIt("commonmark").enable(["strikethrough", "table"])
    return SyntaxTreeNode(parser.parse(source))


# ----- blocks ----------------------------------------------------------------------------


def _blocks(nodes: list[Any], separator: str = _BLOCK_SEPARATOR) -> Spans:
    rendered = [spans for spans in (_block(node) for node in nodes) if _text(spans)]
    return _join(rendered, separator)


def _block(node: Any) -> Spans:
    kind = node.type
    if kind == "heading":
        return _styled(_inline(node.children), "bold")
    if kind == "paragraph":
        return _inline(node.children)
    if kind in ("fence", "code_block"):
        content = node.content[:-1] if node.content.endswith("\n") else node.content
        return [_Span(to_monospace(content))]
    if kind == "blockquote":
        return _quote(node)
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind == "table":
        return _table(node)
    if kind == "hr":
        return [_Span(_RULE)]
    if kind == "html_block":
        return [_Span(node.content.rstrip("\n"))]
    return _inline([node])


def _quote(node: Any) -> Spans:
    out: Spans = []
    for index, line in enumerate(_lines(_blocks(node.children))):
        if index:
            out.append(_Span("\n"))
        out.append(_Span("> " if line else ">"))
        out.extend(line)
    return out


def _list(node: Any) -> Spans:
    start = int(node.attrs.get("start", 1)) if node.type == "ordered_list" else 0
    out: Spans = []
    for index, item in enumerate(node.children):
        marker = f"{start + index}. " if node.type == "ordered_list" else _BULLET
        first, *rest = _lines(_blocks(item.children, "\n"))
        if out:
            out.append(_Span("\n"))
        out.append(_Span(marker))
        out.extend(first)
        for line in rest:
            out.append(_Span("\n" + _NESTED_INDENT))
            out.extend(line)
    return out


def _table(node: Any) -> Spans:
    out: Spans = []
    rows = [row for section in node.children for row in section.children]
    for index, row in enumerate(rows):
        if index:
            out.append(_Span("\n"))
        for cell_index, cell in enumerate(row.children):
            if cell_index:
                out.append(_Span(_CELL_SEPARATOR))
            out.extend(_inline(cell.children))
    return out


# ----- inline ----------------------------------------------------------------------------


def _inline(nodes: list[Any]) -> Spans:
    out: Spans = []
    for node in nodes:
        out.extend(_inline_node(node))
    return out


def _inline_node(node: Any) -> Spans:
    kind = node.type
    if kind == "inline":
        return _inline(node.children)
    if kind in _INLINE_STYLES:
        return _styled(_inline(node.children), _INLINE_STYLES[kind])
    if kind == "code_inline":
        return [_Span(to_monospace(node.content))]
    if kind in ("softbreak", "hardbreak"):
        return [_Span("\n")]
    if kind == "link":
        label = _inline(node.children)
        href = str(node.attrs.get("href", ""))
        if _text(label) == href:
            return [_Span(href)]
        return [*label, _Span(f" ({href})")]
    if kind == "image":
        src = str(node.attrs.get("src", ""))
        alt = _text(_inline(node.children))
        return [_Span(f"{alt} ({src})" if alt else src)]
    return [_Span(node.content)] if node.content else []


# ----- spans -----------------------------------------------------------------------------


def _styled(spans: Spans, style: str) -> Spans:
    return [attrs.evolve(span, styles=span.styles | {style}) for span in spans]


def _text(spans: Spans) -> str:
    return "".join(span.text for span in spans)


def _join(blocks: list[Spans], separator: str) -> Spans:
    out: Spans = []
    for index, block in enumerate(blocks):
        if index:
            out.append(_Span(separator))
        out.extend(block)
    return out


def _lines(spans: Spans) -> list[Spans]:
    """``spans`` cut at each newline (a line can be empty)."""
    lines: list[Spans] = [[]]
    for span in spans:
        for index, part in enumerate(span.text.split("\n")):
            if index:
                lines.append([])
            if part:
                lines[-1].append(attrs.evolve(span, text=part))
    return lines


def _trim(spans: Spans) -> Spans:
    """Without leading and trailing whitespace (whole spans of it dropped)."""
    out = [span for span in spans if span.text]
    while out and not out[0].text.lstrip():
        out.pop(0)
    while out and not out[-1].text.rstrip():
        out.pop()
    if out:
        out[0] = attrs.evolve(out[0], text=out[0].text.lstrip())
        out[-1] = attrs.evolve(out[-1], text=out[-1].text.rstrip())
    return out


def _finalize(spans: Spans) -> tuple[str, tuple[TextFormat, ...]]:
    """The text and one range per run of a style (offsets in UTF-16 code units)."""
    text: list[str] = []
    offset = 0
    opened: dict[str, int] = {}
    ranges: list[TextFormat] = []

    def close(style: str, end: int) -> None:
        start = opened.pop(style, None)
        if start is not None and end > start:
            ranges.append(TextFormat(style, start, end - start))

    for span in spans:
        if not span.text:
            continue
        for style in _STYLES:
            if style in span.styles:
                opened.setdefault(style, offset)
            else:
                close(style, offset)
        text.append(span.text)
        offset += utf16_length(span.text)
    for style in _STYLES:
        close(style, offset)
    ranges.sort(key=lambda item: (item.start, _STYLES.index(item.type)))
    return "".join(text), tuple(ranges)
