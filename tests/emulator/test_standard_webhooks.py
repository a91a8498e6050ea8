"""Standard Webhooks beside Spectrum's own scheme, chosen by the secret: ``verify()`` checks
either, and the emulator signs with either (a ``whsec_`` secret selects Standard Webhooks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

import pytest
from webhook_receiver import Receiver

from spectrum_sync import webhooks
from spectrum_sync.emulator import Emulator

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OTHER = "whsec_" + base64.b64encode(b"another key, another sender....").decode()
BODY = b'{"event":"messages","message":{"id":"m1"}}'


def _signature(key: bytes, message_id: str, stamp: str, body: bytes) -> str:
    """Written from the published scheme, independently of the library's code."""
    mac = hmac.new(key, f"{message_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def _headers(stamp: str, signature: str, message_id: str = "msg_1") -> dict[str, str]:
    return {"Webhook-Id": message_id, "Webhook-Timestamp": stamp,
            "Webhook-Signature": signature}


def test_a_standard_delivery_verifies() -> None:
    stamp = str(int(time.time()))
    webhooks.verify(BODY, _headers(stamp, _signature(KEY, "msg_1", stamp, BODY)), SECRET)
    assert webhooks.sign_standard(SECRET, "msg_1", stamp, BODY) == _signature(
        KEY, "msg_1", stamp, BODY)


def test_several_signatures_and_versions_in_one_header() -> None:
    stamp = str(int(time.time()))
    good = _signature(KEY, "msg_1", stamp, BODY)
    header = f"v2,somethingelse v1,bm90IGl0 {good}"
    webhooks.verify(BODY, _headers(stamp, header), SECRET)
    webhooks.verify(BODY, _headers(stamp, good), [OTHER, SECRET])  # a rotation


@pytest.mark.parametrize(("change", "status", "reason"), [
    ("body", 401, "signature-mismatch"),
    ("id", 401, "signature-mismatch"),
    ("secret", 401, "signature-mismatch"),
    ("old", 401, "expired"),
    ("no-id", 400, "missing-headers"),
    ("spectrum-headers", 400, "missing-headers"),
])
def test_refusals(change: str, status: int, reason: str) -> None:
    stamp = str(int(time.time()) - (400 if change == "old" else 0))
    headers = _headers(stamp, _signature(KEY, "msg_1", stamp, BODY))
    body, secret = BODY, SECRET
    if change == "body":
        body = BODY.replace(b"m1", b"m2")
    elif change == "id":
        headers["Webhook-Id"] = "msg_2"
    elif change == "secret":
        secret = OTHER
    elif change == "no-id":
        del headers["Webhook-Id"]
    elif change == "spectrum-headers":
        headers = {"X-Spectrum-Timestamp": stamp,
                   "X-Spectrum-Signature": webhooks.sign("plain", stamp, BODY)}
    with pytest.raises(webhooks.WebhookError) as info:
        webhooks.verify(body, headers, secret)
    assert (info.value.status, info.value.reason) == (status, reason)


def test_the_secret_chooses_the_scheme() -> None:
    stamp = str(int(time.time()))
    spectrum_headers = {"X-Spectrum-Timestamp": stamp,
                        "X-Spectrum-Signature": webhooks.sign("plain", stamp, BODY)}
    webhooks.verify(BODY, spectrum_headers, "plain")
    webhooks.verify(BODY, spectrum_headers, ["plain", SECRET])  # either scheme during a move
    standard = _headers(stamp, _signature(KEY, "msg_1", stamp, BODY))
    webhooks.verify(BODY, standard, ["plain", SECRET])
    with pytest.raises(webhooks.WebhookError) as info:
        webhooks.verify(BODY, standard, "whsec_not base64!")
    assert info.value.status == 500


@pytest.mark.parametrize("secret", [SECRET, "plain-secret"])
def test_the_emulator_signs_with_either_scheme(make_emu: Callable[..., Emulator],
                                               secret: str) -> None:
    receiver = Receiver()
    try:
        emu = make_emu(lines=["+15550000001"], webhook_url=receiver.url, webhook_secret=secret,
                       clock=None)
        emu.simulate_inbound("+15551111111", "hello")
        (delivery,) = receiver.wait_for(1)
    finally:
        receiver.close()
    webhooks.verify(delivery.body, delivery.headers, secret)
    if secret.startswith("whsec_"):
        assert delivery.headers["webhook-signature"].startswith("v1,")
        assert delivery.headers["webhook-id"] == delivery.json()["message"]["id"]
        assert "x-spectrum-signature" not in delivery.headers
    else:
        assert delivery.headers["x-spectrum-signature"].startswith("v0=")
