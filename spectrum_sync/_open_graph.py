"""The reader of a web page's Open Graph tags, for link cards (``_app_cards.link_layout``).

A module of its own so that ``html.parser`` is imported only when a link card is made.
"""

from __future__ import annotations

import html.parser

__all__ = ["OpenGraph"]


class OpenGraph(html.parser.HTMLParser):
    """Collects ``og:*`` meta tags, the description and the <title> of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs_: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "meta":
            found = dict(attrs_)
            key = (found.get("property") or found.get("name") or "").lower()
            value = found.get("content")
            if key and value and key not in self.tags:
                self.tags[key] = value.strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
