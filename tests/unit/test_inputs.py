"""Input checks with no network: addresses, chat guids, reactions, texts."""

from __future__ import annotations

import pytest

import spectrum_sync as spectrum
from spectrum_sync._addresses import normalize_address, parse_chat_guid, space_type
from spectrum_sync._reactions import check_reaction, is_single_emoji
from spectrum_sync._validate import check_text


@pytest.mark.parametrize("raw,expected", [
    ("+1 (555) 111-1111", ("+15551111111", "US")),
    ("555-111-1111", ("+15551111111", "US")),
    ("  Bob@Example.COM ", ("bob@example.com", None)),
    ("+44 20 7946 0000", ("+442079460000", "GB")),
    ("first.last+tag@sub.example.co.uk", ("first.last+tag@sub.example.co.uk", None)),
    ("x@xn--bcher-kva.example", ("x@xn--bcher-kva.example", None)),
])
def test_addresses_normalise(raw: str, expected: tuple[str, str | None]) -> None:
    assert normalize_address(raw) == expected


def test_chat_guids_split_on_the_first_two_separators() -> None:
    assert parse_chat_guid("iMessage;+;a;b") == ("iMessage", "+", "a;b")
    assert space_type("any;-;+15551111111") == "dm"
    for bad in ["", "nonsense", "any;x;+1555", "any;-;", ";-;+1555", "a;-;" + "x" * 1100]:
        with pytest.raises(spectrum.ValidationError):
            parse_chat_guid(bad)


@pytest.mark.parametrize("text", ["👍", "❤️", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🇯🇵", "#️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"])
def test_single_emoji(text: str) -> None:
    assert is_single_emoji(text)


@pytest.mark.parametrize("text", ["", "a", "👍👍", "👍a", "🇯", "\u200d", "🏽", "a\ufe0f"])
def test_not_single_emoji(text: str) -> None:
    assert not is_single_emoji(text)


def test_tapback_names() -> None:
    assert check_reaction(" Love ") == "❤️"
    assert check_reaction("question") == "❓"
    with pytest.raises(spectrum.ValidationError, match="sticker"):
        check_reaction("sticker")


def test_text_limits() -> None:
    assert check_text("text", "ok") == "ok"
    with pytest.raises(spectrum.ValidationError, match="100 MiB"):
        check_text("text", "€" * (40 * 2**20))  # 120 MiB in UTF-8, 40 Mi characters
    with pytest.raises(spectrum.ValidationError, match="surrogate"):
        check_text("text", "a\udfffb")
