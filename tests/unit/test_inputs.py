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


@pytest.mark.parametrize("number", ["+15550000000", "+15551111111", "+15555550100",
                                    "+15559999999"])
def test_e164_example_numbers_answer_as_the_general_path_does(number: str) -> None:
    # Written with spaces, the same number goes through phonenumbers: both answers agree.
    spaced = f"{number[:2]} {number[2:5]} {number[5:8]} {number[8:]}"
    assert normalize_address(number) == normalize_address(spaced) == (number, "US")
    assert normalize_address(number, "FR") == (number, "US")


@pytest.mark.parametrize("near_miss", ["+1555111111", "+155511111111", "+1555111111x"])
def test_near_misses_of_example_numbers_take_the_general_path(near_miss: str) -> None:
    with pytest.raises(spectrum.InvalidAddress):
        normalize_address(near_miss)


def test_non_ascii_digits_of_an_example_number_are_normalised_to_ascii() -> None:
    assert normalize_address("+1555111\u0661111") == ("+15551111111", "US")


def test_an_e164_example_number_does_not_load_phonenumbers() -> None:
    import subprocess
    import sys

    # A one-shot script to the emulator's numbers skips phonenumbers' ~25 ms (bench/oneshot.py).
    script = ("import sys\nfrom spectrum_sync._addresses import normalize_address\n"
              "normalize_address('+15551111111')\nprint('phonenumbers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "False"
