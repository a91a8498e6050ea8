"""Exception hierarchy and the translation of gRPC and REST failures into it.

Every failure the library raises is a :class:`SpectrumError`. gRPC failures are
translated from the status code plus the trailing metadata the service sends
(``error-code``, ``x-retryable``, ``error-context-<key>``); no raw
``grpc.RpcError`` escapes the library.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import grpc

__all__ = [
    "AuthenticationError",
    "ClientClosed",
    "CloudError",
    "ConfigurationError",
    "ConnectionError",
    "InvalidAddress",
    "NotFoundError",
    "QuotaExceeded",
    "RateLimitError",
    "RoutingError",
    "SpectrumError",
    "UnsupportedError",
    "ValidationError",
    "from_rpc_error",
]


class SpectrumError(Exception):
    """Base of every error raised by spectrum_sync.

    Attributes: ``code`` (the service's camelCase error code, e.g.
    ``"chatNotFound"``), ``retryable`` (the server said a retry is safe),
    ``grpc_code`` / ``http_status`` (where the failure came from) and
    ``context`` (extra key/value details from the server).
    """

    default_code = "internalError"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool = False,
        grpc_code: grpc.StatusCode | None = None,
        http_status: int | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.retryable = retryable
        self.grpc_code = grpc_code
        self.http_status = http_status
        self.context: dict[str, str] = dict(context or {})

    def __str__(self) -> str:
        return f"{self.message} (code={self.code})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class AuthenticationError(SpectrumError):
    """Credentials or token rejected (UNAUTHENTICATED / PERMISSION_DENIED)."""

    default_code = "unauthenticated"


class NotFoundError(SpectrumError):
    """The chat, message, address, ... does not exist (NOT_FOUND)."""

    default_code = "notFound"


class RateLimitError(SpectrumError):
    """The service throttled the call (RESOURCE_EXHAUSTED)."""

    default_code = "burstRateExceeded"


class QuotaExceeded(RateLimitError):
    """A daily quota of a line is spent.

    ``kind`` is ``"messages"`` or ``"new_conversations"``; ``limit`` the
    quota (``None`` when the server did not say), ``line`` the phone number
    of the line and ``resets_at`` the UTC time the quota resets.
    """

    default_code = "dailyLimitExceeded"

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        limit: int | None,
        line: str,
        resets_at: datetime,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.kind = kind
        self.limit = limit
        self.line = line
        self.resets_at = resets_at


class ValidationError(SpectrumError, ValueError):
    """The request was invalid (INVALID_ARGUMENT / FAILED_PRECONDITION or a client check)."""

    default_code = "invalidArgument"


class InvalidAddress(ValidationError):
    """An address is neither a valid phone number nor a valid e-mail address."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"invalid address {address!r}: {reason}", code="invalidArgument")
        self.address = address


class ConnectionError(SpectrumError, builtins.ConnectionError):
    """The service could not be reached in time (UNAVAILABLE / DEADLINE_EXCEEDED).

    Also a built-in :class:`ConnectionError`, so generic network handlers catch it.
    """

    default_code = "serviceUnavailable"


class UnsupportedError(SpectrumError):
    """The operation is not possible in this mode (e.g. group chats in shared mode)."""

    default_code = "operationNotSupported"

    def __init__(self, feature: str, mode: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f"{feature} is not supported in {mode} mode{detail}")
        self.feature = feature
        self.mode = mode


class ConfigurationError(SpectrumError):
    """Missing or contradictory configuration; the message says what to set."""

    default_code = "configurationError"


class ClientClosed(SpectrumError):
    """The client was closed; create a new one."""

    default_code = "clientClosed"


class CloudError(SpectrumError):
    """The Spectrum Cloud REST API (token exchange) failed."""

    default_code = "UNKNOWN"


class RoutingError(SpectrumError):
    """No line can be chosen for a space (unknown or ambiguous phone number)."""

    default_code = "routingError"

    def __init__(self, message: str, available: list[str]) -> None:
        numbers = ", ".join(available) if available else "none"
        super().__init__(f"{message}; available numbers: {numbers}")
        self.available = list(available)


# ----- gRPC translation --------------------------------------------------------

_BY_STATUS: dict[grpc.StatusCode, type[SpectrumError]] = {
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: AuthenticationError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimitError,
    grpc.StatusCode.INVALID_ARGUMENT: ValidationError,
    grpc.StatusCode.FAILED_PRECONDITION: ValidationError,
    grpc.StatusCode.UNAVAILABLE: ConnectionError,
    grpc.StatusCode.DEADLINE_EXCEEDED: ConnectionError,
}

_CONTEXT_PREFIX = "error-context-"


def _metadata_value(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def from_rpc_error(error: grpc.RpcError) -> SpectrumError:
    """Translate a ``grpc.RpcError`` (a failed call) into a :class:`SpectrumError`."""
    status: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    details = ""
    trailers: Any = None
    if isinstance(error, grpc.Call):
        status = error.code() or grpc.StatusCode.UNKNOWN
        details = error.details() or ""
        trailers = error.trailing_metadata()
    code = "internalError"
    retryable = False
    context: dict[str, str] = {}
    for key, value in trailers or ():
        if key == "error-code":
            code = _metadata_value(value)
        elif key == "x-retryable":
            retryable = _metadata_value(value) == "true"
        elif key.startswith(_CONTEXT_PREFIX):
            context[key[len(_CONTEXT_PREFIX) :]] = _metadata_value(value)
    cls = _BY_STATUS.get(status, SpectrumError)
    message = details or status.name.lower().replace("_", " ")
    return cls(message, code=code, retryable=retryable, grpc_code=status, context=context)
