"""gRPC failures -> :class:`SpectrumError` (see docs/behaviour.md, "Errors").

The service describes an error with the status code plus trailing metadata: ``error-code``
(camelCase, ``internalError`` when absent), ``x-retryable`` and ``error-context-<key>``
entries. A failure without an ``error-code`` trailer did not come from the service's
handlers: gRPC itself failed (no connection, connection lost, limits), which changes what is
safe to do next.
"""

from __future__ import annotations

from typing import Any

import grpc

from .._errors import (
    AuthenticationError,
    ConnectionError,
    NotFoundError,
    RateLimitError,
    SpectrumError,
    ValidationError,
)

__all__ = ["RpcFailure", "classify"]

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
# What gRPC says when it could not open a connection at all: the request never left.
_NOT_CONNECTED = (
    "failed to connect", "connection refused", "dns resolution failed", "name resolution",
    "no route to host", "handshake", "connections to all backends failing",
    "failed to pick subchannel", "empty address list", "unable to resolve",
)


class RpcFailure:
    """A failed call, classified: the error to raise and what it means for a retry."""

    __slots__ = ("error", "from_service", "never_sent")

    def __init__(self, error: SpectrumError, from_service: bool, never_sent: bool) -> None:
        self.error = error
        #: The service's own handlers answered (an ``error-code`` trailer was present).
        self.from_service = from_service
        #: gRPC could not connect: the request did not leave this process.
        self.never_sent = never_sent


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def classify(failure: grpc.RpcError) -> RpcFailure:
    """Translate a failed call (a ``grpc.RpcError``) into an :class:`RpcFailure`."""
    status = grpc.StatusCode.UNKNOWN
    details = ""
    trailers: Any = None
    if isinstance(failure, grpc.Call):
        status = failure.code() or grpc.StatusCode.UNKNOWN
        details = failure.details() or ""
        trailers = failure.trailing_metadata()
    code: str | None = None
    retryable = False
    context: dict[str, str] = {}
    for key, value in trailers or ():
        if key == "error-code":
            code = _text(value)
        elif key == "x-retryable":
            retryable = _text(value) == "true"
        elif key.startswith(_CONTEXT_PREFIX):
            context[key[len(_CONTEXT_PREFIX):]] = _text(value)
    from_service = code is not None
    never_sent = False
    cls = _BY_STATUS.get(status, SpectrumError)
    message = details or status.name.lower().replace("_", " ")
    if not from_service:
        lowered = details.lower()
        if status == grpc.StatusCode.UNAVAILABLE:
            # No connection, or the connection broke: with the same idempotency key a retry
            # is always safe, whether or not the request had reached the server.
            never_sent = any(pattern in lowered for pattern in _NOT_CONNECTED)
            code, retryable = "serviceUnavailable", True
        elif status == grpc.StatusCode.DEADLINE_EXCEEDED:
            code = "timeout"
        elif status == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in lowered:
            # gRPC's own message size limit, not the service throttling us.
            cls, code = ValidationError, "messageTooLarge"
        elif status == grpc.StatusCode.CANCELLED:
            code = "cancelled"
        else:
            code = "internalError"
    error = cls(message, code=code, retryable=retryable, grpc_code=status, context=context)
    return RpcFailure(error, from_service, never_sent)
