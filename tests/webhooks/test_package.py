"""The webhook package's public face, pinned: the split into private modules by role changed
no public name, and the public classes still report ``spectrum_sync.webhooks`` as their home."""

from __future__ import annotations

from spectrum_sync import webhooks
from spectrum_sync._backend.webhook import DETACHED, ClientOps
from spectrum_sync._models import SpaceOperations

PUBLIC = [
    "CLAIM_GROUP", "CLAIM_TTL", "CUSTOM_KIND", "MAX_BODY_BYTES", "SEEN_GROUP", "SEEN_TTL",
    "SIGNATURE_HEADER", "STANDARD_SECRET_PREFIX", "TIMESTAMP_HEADER", "TOLERANCE_SECONDS",
    "CustomContent", "Deduplicator", "WebhookDispatcher", "WebhookEnvelope", "WebhookError",
    "WebhookEvent", "WebhookResponse", "parse", "parse_envelope", "sign", "sign_standard",
    "signature_headers", "verify",
]


def test_public_names_are_pinned() -> None:
    assert sorted(webhooks.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(webhooks, name) is not None


def test_webhooks_is_a_package_of_private_modules() -> None:
    assert hasattr(webhooks, "__path__")
    for name in PUBLIC:
        value = getattr(webhooks, name)
        if isinstance(value, type):
            assert value.__module__ == "spectrum_sync.webhooks", name


def test_the_webhook_backends_offer_every_space_operation() -> None:
    wanted = [n for n in dir(SpaceOperations) if not n.startswith("_")]
    for ops in (DETACHED, ClientOps):
        missing = [n for n in wanted if not hasattr(ops, n)]
        assert not missing, (ops, missing)
