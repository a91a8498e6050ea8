"""``webhooks.verify``: signatures made by hand (a fixed vector from ``openssl dgst``, and the
standard library's hmac), any header case, tampering, wrong secrets, the 300 s window, and
missing or garbage headers."""

from __future__ import annotations

import json

import pytest
from hook_helpers import (
    SECRET,
    VECTOR_BODY,
    VECTOR_HEADERS,
    VECTOR_SIGNATURE,
    VECTOR_TIME,
    body_of,
    envelope,
    hand_signature,
    signed_headers,
)

import spectrum_sync as spectrum
from spectrum_sync.webhooks import WebhookError, sign, verify


def refused(body: bytes | str, headers: object, secret: object = SECRET,
            now: float | None = None) -> WebhookError:
    with pytest.raises(WebhookError) as caught:
        verify(body, headers, secret, now=now)  # type: ignore[arg-type]
    return caught.value


def test_the_known_vector_verifies() -> None:
    assert sign(SECRET, VECTOR_TIME, VECTOR_BODY) == VECTOR_SIGNATURE
    assert hand_signature(SECRET, str(VECTOR_TIME), VECTOR_BODY) == VECTOR_SIGNATURE
    verify(VECTOR_BODY, VECTOR_HEADERS, SECRET, now=VECTOR_TIME)
    verify(VECTOR_BODY.decode(), VECTOR_HEADERS, SECRET, now=VECTOR_TIME + 12.9)
    verify(memoryview(VECTOR_BODY), VECTOR_HEADERS, SECRET, now=VECTOR_TIME)


@pytest.mark.parametrize("name_case", [str.lower, str.upper, str.title, lambda s: s])
def test_header_names_in_any_case(name_case: object) -> None:
    headers = {name_case(k): v for k, v in VECTOR_HEADERS.items()}  # type: ignore[operator]
    verify(VECTOR_BODY, headers, SECRET, now=VECTOR_TIME)
    verify(VECTOR_BODY, list(headers.items()), SECRET, now=VECTOR_TIME)


def test_signature_forms_the_official_verifier_accepts() -> None:
    bare = VECTOR_SIGNATURE[3:]
    for value in (bare, "v0=" + bare.upper(), " " + VECTOR_SIGNATURE + " "):
        verify(VECTOR_BODY, {**VECTOR_HEADERS, "X-Spectrum-Signature": value}, SECRET,
               now=VECTOR_TIME)


def test_a_live_request_signed_by_hand() -> None:
    body = body_of(envelope({"type": "text", "text": "héllo 🙂"}))
    verify(body, signed_headers(body), SECRET)


def test_tampered_body_is_401() -> None:
    tampered = VECTOR_BODY.replace(b'"hi"', b'"ho"')
    error = refused(tampered, VECTOR_HEADERS, now=VECTOR_TIME)
    assert (error.status, error.reason) == (401, "signature-mismatch")
    # Same JSON, other bytes: the signature covers the exact body, not its meaning.
    reencoded = json.dumps(json.loads(VECTOR_BODY)).encode()
    assert refused(reencoded, VECTOR_HEADERS, now=VECTOR_TIME).status == 401
    # The timestamp is signed too.
    moved = {**VECTOR_HEADERS, "X-Spectrum-Timestamp": str(VECTOR_TIME + 1)}
    assert refused(VECTOR_BODY, moved, now=VECTOR_TIME).reason == "signature-mismatch"


def test_wrong_secret_is_401_and_a_rotation_list_accepts_either() -> None:
    error = refused(VECTOR_BODY, VECTOR_HEADERS, "not-the-secret", now=VECTOR_TIME)
    assert (error.status, error.reason) == (401, "signature-mismatch")
    verify(VECTOR_BODY, VECTOR_HEADERS, ["new-secret", SECRET], now=VECTOR_TIME)
    assert refused(VECTOR_BODY, VECTOR_HEADERS, ["a", "b"], now=VECTOR_TIME).status == 401


@pytest.mark.parametrize("offset", [-300, 0, 300, 0.99])
def test_timestamps_within_300_seconds_either_way_pass(offset: float) -> None:
    verify(VECTOR_BODY, VECTOR_HEADERS, SECRET, now=VECTOR_TIME + offset)


@pytest.mark.parametrize("offset", [-301, 301, -86400, 10**9])
def test_expired_and_future_timestamps_are_401(offset: float) -> None:
    error = refused(VECTOR_BODY, VECTOR_HEADERS, now=VECTOR_TIME + offset)
    assert (error.status, error.reason) == (401, "expired")


@pytest.mark.parametrize("drop", ["X-Spectrum-Timestamp", "X-Spectrum-Signature", "both"])
def test_missing_headers_are_400(drop: str) -> None:
    headers = {} if drop == "both" else {k: v for k, v in VECTOR_HEADERS.items() if k != drop}
    error = refused(VECTOR_BODY, headers, now=VECTOR_TIME)
    assert (error.status, error.reason) == (400, "missing-headers")
    empty = {**VECTOR_HEADERS, **({drop: ""} if drop != "both" else {})}
    if drop != "both":
        assert refused(VECTOR_BODY, empty, now=VECTOR_TIME).status == 400


@pytest.mark.parametrize("stamp", ["abc", "1700000000abc", "0x10", "1e9", "NaN", "--1",
                                   "17000000\n00"])
def test_garbage_timestamps_are_400(stamp: str) -> None:
    error = refused(VECTOR_BODY, {**VECTOR_HEADERS, "X-Spectrum-Timestamp": stamp},
                    now=VECTOR_TIME)
    assert (error.status, error.reason) == (400, "missing-headers")


@pytest.mark.parametrize("zero", ["\u0660", "\uff10", "\u0966"])
def test_a_timestamp_in_non_ascii_digits_is_400(zero: str) -> None:
    # The right time in Arabic-Indic, fullwidth or Devanagari digits: float() reads it, the
    # header check must not.
    stamp = "".join(chr(ord(zero) + int(d)) for d in str(VECTOR_TIME))
    for value in (stamp, f"\u3000{VECTOR_TIME}"):
        error = refused(VECTOR_BODY, {**VECTOR_HEADERS, "X-Spectrum-Timestamp": value},
                        now=VECTOR_TIME)
        assert (error.status, error.reason) == (400, "missing-headers")


@pytest.mark.parametrize("signature", ["v0=", "v0=zz", "v0=abc", "garbage", "v1=" + "a" * 64,
                                       "v0=" + "a" * 64])
def test_garbage_signatures_are_401(signature: str) -> None:
    # As the official verifier: a signature that cannot match is a mismatch, not a 400.
    error = refused(VECTOR_BODY, {**VECTOR_HEADERS, "X-Spectrum-Signature": signature},
                    now=VECTOR_TIME)
    assert error.status in (400, 401)
    if signature != "v0=":  # "v0=" alone is an empty header value for us: missing
        assert (error.status, error.reason) == (401, "signature-mismatch")


@pytest.mark.parametrize("secret", ["", [], [""], None])
def test_no_secret_is_a_500_error(secret: object) -> None:
    error = refused(VECTOR_BODY, VECTOR_HEADERS, secret, now=VECTOR_TIME)
    assert (error.status, error.reason) == (500, "secret-not-configured")


def test_the_error_type() -> None:
    error = refused(VECTOR_BODY, {}, now=VECTOR_TIME)
    assert isinstance(error, spectrum.SpectrumError)
    assert error.http_status == 400 and error.code == "missingHeaders"
    assert "X-Spectrum-Signature" in str(error)


def test_a_body_that_is_not_bytes_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        verify({"event": "messages"}, VECTOR_HEADERS, SECRET)  # type: ignore[arg-type]
