"""The attributedBody (typedstream) decoder and the fixture encoder."""

from __future__ import annotations

import random
import struct

import pytest

from spectrum_sync._local import typedstream
from spectrum_sync._local.typedstream import decode_attributed_body, encode_attributed_body

# The archive of "Hello" as Messages writes it: NSAttributedString -> NSString "Hello", one
# attribute run of 5 UTF-16 units carrying __kIMMessagePartAttributeName = 0.
HELLO = bytes.fromhex(
    "040b73747265616d747970656481e803840140848484124e5341747472696275746564537472696e67"
    "008484084e534f626a65637400859284848408 4e53537472696e670194 84012b0548656c6c6f86"
    "840269490105928484840c4e5344696374696f6e617279009484016901928496961d5f5f6b494d4d65"
    "7373616765506172744174747269627574654e616d6586928484840 84e534e756d62657200848407"
    "4e5356616c7565009484012a99990086 8686".replace(" ", "")
)


def test_encoder_writes_the_layout_macos_writes() -> None:
    assert encode_attributed_body("Hello") == HELLO
    assert HELLO.startswith(b"\x04\x0bstreamtyped\x81\xe8\x03\x84\x01@\x84\x84\x84\x12"
                            b"NSAttributedString")


@pytest.mark.parametrize("text", [
    "",
    "hi",
    "Line one\nline two\r\nthree\u2028four",
    "Café naïve — “quotes”",
    "emoji 😂👍🏽 and a family 👨‍👩‍👧‍👦 and a flag 🇫🇷",
    "中文 日本語 한국어 العربية",
    "\ufffc",  # the attachment placeholder Messages puts in the text
    '"; do shell script "touch /tmp/pwned"',
])
@pytest.mark.parametrize("mutable", [False, True])
def test_round_trip(text: str, mutable: bool) -> None:
    assert decode_attributed_body(encode_attributed_body(text, mutable=mutable)) == text


def test_mutable_string_archive_names_both_classes() -> None:
    blob = encode_attributed_body("x", mutable=True)
    assert b"NSMutableString" in blob and b"NSString" in blob


@pytest.mark.parametrize("size", [127, 128, 255, 32767, 32768, 65535, 65536, 70_000])
def test_length_boundaries(size: int) -> None:
    text = "a" * size
    blob = encode_attributed_body(text)
    assert decode_attributed_body(blob) == text
    if size <= 127:
        assert bytes([0x84, 0x01, 0x2B, size]) in blob
    elif size <= 32767:
        assert b"\x84\x01+\x81" + struct.pack("<h", size) in blob
    else:
        assert b"\x84\x01+\x82" + struct.pack("<i", size) in blob


def test_long_text_with_multibyte_characters() -> None:
    text = ("long message 😀 é 中 " * 4000)[:70_000]
    assert len(text) == 70_000 and len(text.encode()) > 65_536
    assert decode_attributed_body(encode_attributed_body(text)) == text


def test_two_byte_length_read_unsigned() -> None:
    """Some writers put lengths up to 65535 in the 0x81 form; read them unsigned."""
    text = "b" * 40_000
    blob = encode_attributed_body(text)
    four = b"\x84\x01+\x82" + struct.pack("<i", 40_000)
    assert four in blob
    assert decode_attributed_body(blob.replace(four, b"\x84\x01+\x81" + struct.pack("<H", 40_000))
                                  ) == text


def test_bare_nsstring_archive() -> None:
    writer = typedstream._Writer()
    writer.out += b"\x04\x0bstreamtyped"
    writer.integer(1000)
    writer.string_object(b"just a string", [(b"NSString", 1), (b"NSObject", 0)])
    assert decode_attributed_body(bytes(writer.out)) == "just a string"


def test_references_beyond_the_one_byte_range() -> None:
    """Reference numbering follows the integer encoding (index 238 needs two bytes)."""
    writer = typedstream._Writer()
    writer.reference(0)
    writer.reference(145)
    writer.reference(238)
    reader = typedstream._Reader(bytes(writer.out))
    assert bytes(writer.out)[:1] == b"\x92"
    assert [reader.reference(reader.byte()) for _ in range(3)] == [0, 145, 238]


def test_unknown_header_falls_back_to_scanning() -> None:
    blob = bytearray(encode_attributed_body("still found"))
    blob[0] = 9  # an unknown streamer version: the parser gives up, the scan finds the text
    assert decode_attributed_body(bytes(blob)) == "still found"


def test_accepts_buffer_types() -> None:
    assert decode_attributed_body(bytearray(HELLO)) == "Hello"
    assert decode_attributed_body(memoryview(HELLO)) == "Hello"


@pytest.mark.parametrize("value", [None, b"", b"\x00", b"streamtyped", "Hello", 42, object()])
def test_non_blobs_give_none(value: object) -> None:
    assert decode_attributed_body(value) is None  # type: ignore[arg-type]


def test_invalid_utf8_gives_none() -> None:
    blob = encode_attributed_body("abcd").replace(b"\x04abcd", b"\x04ab\xff\xfe")
    assert decode_attributed_body(blob) is None


def test_random_bytes_never_raise() -> None:
    rng = random.Random(1234)
    for _ in range(3000):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 160)))
        assert decode_attributed_body(blob) is None


def test_header_then_garbage_never_raises() -> None:
    rng = random.Random(99)
    for _ in range(3000):
        tail = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120)))
        result = decode_attributed_body(HELLO[:rng.randrange(0, 40)] + tail)
        assert result is None or isinstance(result, str)


def test_truncated_blobs() -> None:
    """Cut anywhere before the end of the text: None. After it: the whole text."""
    text = "truncate me 😀"
    blob = encode_attributed_body(text)
    end_of_text = blob.index(text.encode()) + len(text.encode())
    for cut in range(len(blob)):
        result = decode_attributed_body(blob[:cut])
        assert result == (text if cut >= end_of_text else None), cut


def test_flipped_bytes_never_raise() -> None:
    rng = random.Random(7)
    blob = encode_attributed_body("mutate this message, please 🙂")
    for _ in range(3000):
        mutated = bytearray(blob)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        result = decode_attributed_body(bytes(mutated))
        assert result is None or isinstance(result, str)


def test_lengths_past_the_end_give_none() -> None:
    blob = encode_attributed_body("abc").replace(b"\x84\x01+\x03", b"\x84\x01+\x82\xff\xff\xff\x7f")
    assert decode_attributed_body(blob) is None
