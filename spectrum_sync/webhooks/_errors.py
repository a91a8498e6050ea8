"""The one error of the webhook package: a request that must be refused, with its status."""

from __future__ import annotations

from .._errors import SpectrumError

_CODES = {
    "missing-headers": "missingHeaders",
    "signature-mismatch": "signatureMismatch",
    "expired": "expired",
    "malformed-payload": "malformedPayload",
    "secret-not-configured": "secretNotConfigured",
    "body-too-large": "bodyTooLarge",
}


class WebhookError(SpectrumError):
    """A webhook request that must be refused. ``status`` is the HTTP status to answer (400
    for missing or unreadable headers and malformed bodies, 401 for a wrong signature or a
    timestamp outside the tolerance, 500 when no secret is configured) and ``reason`` a short
    token: ``missing-headers``, ``signature-mismatch``, ``expired``, ``malformed-payload``,
    ``secret-not-configured``, ``body-too-large``."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message, code=_CODES.get(reason, "invalidWebhook"), http_status=status)
        self.status = status
        self.reason = reason
