"""Every error the library raises survives pickling (Celery results, multiprocessing pools):
same type, message, code and attributes; a live message handle does not cross (None)."""

from __future__ import annotations

import importlib
import pickle
import pkgutil
from collections.abc import Iterator
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

import spectrum_sync
from spectrum_sync import _delivery, _errors
from spectrum_sync.webhooks import WebhookError

_SENT = SimpleNamespace(guid="G-1", send_error_code=22)


def _samples() -> dict[str, _errors.SpectrumError]:
    """One instance of every class, built as the library builds it."""
    e = _errors
    return {
        "SpectrumError": e.SpectrumError("boom", code="internalError", retryable=True,
                                         grpc_code=grpc.StatusCode.INTERNAL,
                                         context={"k": "v"}, idempotency_key="key-1"),
        "AlreadyReceiving": e.AlreadyReceiving("one at a time"),
        "AlreadySent": e.AlreadySent("sent before", idempotency_key="key-2"),
        "AuthenticationError": e.AuthenticationError("no", http_status=401),
        "ClientClosed": e.ClientClosed("closed"),
        "CloudError": e.CloudError("bad", code="invalidCredentials"),
        "ConfigurationError": e.ConfigurationError("set SPECTRUM_PROJECT_ID"),
        "ConnectionError": e.ConnectionError("down", code="timeout"),
        "DeliveryFailed": _delivery.DeliveryFailed(_SENT),  # type: ignore[arg-type]
        "DeliveryTimeout": _delivery.DeliveryTimeout(_SENT, 2.0),  # type: ignore[arg-type]
        "InvalidAddress": e.InvalidAddress("06 12", "not a valid number"),
        "NotFoundError": e.NotFoundError("gone", code="chatNotFound"),
        "QuotaExceeded": e.QuotaExceeded(
            "spent", kind="messages", limit=5000, line="+15550000001",
            resets_at=datetime(2026, 12, 7, tzinfo=timezone.utc)),
        "RateLimitError": e.RateLimitError("slow down"),
        "RoutingError": e.RoutingError("no line", ["+15550000001"]),
        "StateStoreError": e.StateStoreError("disk full", store="sqlite:///x.db"),
        "UnsupportedError": e.UnsupportedError("groups", "shared", "not on the pool"),
        "ValidationError": e.ValidationError("bad input"),
        "WebhookError": WebhookError(401, "expired", "too old"),
    }


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


#: Modules of the optional extras: the version matrix (noxfile.py) runs without Flask.
OPTIONAL = ("spectrum_sync.flask", "spectrum_sync.django")


def test_the_samples_cover_every_error_class() -> None:
    for info in pkgutil.walk_packages(spectrum_sync.__path__, "spectrum_sync."):
        if info.name.endswith("__main__") or info.name.startswith("spectrum_sync.django"):
            continue  # the CLI's entry point; Django's modules need its settings
        try:
            importlib.import_module(info.name)
        except ImportError:
            if not info.name.startswith(OPTIONAL):
                raise
    found = {c.__name__ for c in _subclasses(_errors.SpectrumError)} | {"SpectrumError"}
    assert found == set(_samples()), "add a sample of each new error class here"


@pytest.mark.parametrize("name", sorted(_samples()))
def test_an_error_survives_pickling(name: str) -> None:
    error = _samples()[name]
    error.outcome = error.outcome or "rejected"
    copy: Any = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (str(copy), repr(copy), copy.args) == (str(error), repr(error), error.args)
    expected = dict(vars(error))
    if "sent_message" in expected:
        expected["sent_message"] = None  # a live handle stays in its process
    assert vars(copy) == expected
