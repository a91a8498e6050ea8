"""gRPC failures -> :class:`SpectrumError` (see docs/behaviour.md, "Errors").

The service describes an error with the status code plus trailing metadata: ``error-code``
(camelCase, ``internalError`` when absent), ``x-retryable`` and ``error-context-<key>``
entries. A failure without an ``error-code`` trailer did not come from the service's
handlers: gRPC itself failed (no connection, connection lost, limits), which changes what is
safe to do next.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

import grpc

from .._errors import (
    AlreadySent,
    AuthenticationError,
    ConnectionError,
    NotFoundError,
    RateLimitError,
    SpectrumError,
    UnsupportedError,
    ValidationError,
)

__all__ = ["ERROR_CODES", "CodeInfo", "RpcFailure", "classify", "heals_by_refresh"]


class CodeInfo(NamedTuple):
    """What one of the service's error codes means here (docs/errors.md is its table)."""

    error: type[SpectrumError]
    #: For throttles: what the limit holds back (see :class:`RateLimitError`).
    scope: str | None = None
    #: An authentication failure a fresh token may heal (the library refreshes once).
    refresh: bool = False


_AUTH, _RATE, _MISSING = AuthenticationError, RateLimitError, NotFoundError

#: Every code of the official ``ErrorCode`` list (31), with its class here.
ERROR_CODES: dict[str, CodeInfo] = {
    "unauthenticated": CodeInfo(_AUTH, refresh=True),
    "tokenExpired": CodeInfo(_AUTH, refresh=True),
    "tokenBlocked": CodeInfo(_AUTH),  # refused on purpose: a new token would be too
    "unauthorized": CodeInfo(_AUTH),
    "dailyLimitExceeded": CodeInfo(_RATE, scope="line"),
    "recipientLimitExceeded": CodeInfo(_RATE, scope="recipient"),
    "uploadRateExceeded": CodeInfo(_RATE, scope="uploads"),
    "contentDuplicateExceeded": CodeInfo(_RATE, scope="content"),
    "recipientCoolingDown": CodeInfo(_RATE, scope="recipient"),
    "recipientLocked": CodeInfo(_RATE, scope="recipient"),
    "burstRateExceeded": CodeInfo(_RATE, scope="line"),
    "newContactThrottled": CodeInfo(_RATE, scope="new_conversations"),
    "sendReceiveRatioExceeded": CodeInfo(_RATE, scope="line"),
    "duplicateMessage": CodeInfo(AlreadySent),
    "chatNotFound": CodeInfo(_MISSING),
    "messageNotFound": CodeInfo(_MISSING),
    "attachmentNotFound": CodeInfo(_MISSING),
    "addressNotFound": CodeInfo(_MISSING),
    "sharedFriendLocationNotFound": CodeInfo(_MISSING),
    "groupIconNotFound": CodeInfo(_MISSING),
    "pollNotFound": CodeInfo(_MISSING),
    "invalidArgument": CodeInfo(ValidationError),
    "preconditionFailed": CodeInfo(ValidationError),
    "operationNotSupported": CodeInfo(UnsupportedError),
    "attachmentNotReady": CodeInfo(ValidationError),
    "privateApiUnavailable": CodeInfo(UnsupportedError),
    "serviceUnavailable": CodeInfo(ConnectionError),
    "timeout": CodeInfo(ConnectionError),
    "internalError": CodeInfo(SpectrumError),
    "databaseError": CodeInfo(SpectrumError),
    "networkError": CodeInfo(ConnectionError),
}


def heals_by_refresh(error: SpectrumError) -> bool:
    """Whether a fresh token may cure this authentication failure: an UNAUTHENTICATED
    answer whose code is not one refused on purpose (``tokenBlocked``, ``unauthorized``)."""
    if error.grpc_code != grpc.StatusCode.UNAUTHENTICATED:
        return False
    info = ERROR_CODES.get(error.code)
    return info is None or info.refresh

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
    status, details, trailers = _status(failure)
    code, retryable, context = _read_trailers(trailers)
    from_service = code is not None
    known = ERROR_CODES.get(code) if code is not None else None
    # The code says more than the status (operationNotSupported and INVALID_ARGUMENT share
    # FAILED_PRECONDITION's category): unknown codes fall back on the status.
    cls = known.error if known is not None else _BY_STATUS.get(status, SpectrumError)
    message = details or status.name.lower().replace("_", " ")
    never_sent = False
    if code is None:
        cls, code, retryable, never_sent = _grpc_own(status, details, cls, retryable)
    error = cls(message, code=code, retryable=retryable, grpc_code=status, context=context)
    if isinstance(error, RateLimitError):
        error.scope = known.scope if known is not None else None
        error.resets_at = _moment(_first(context, "resetsat", "resetat", "reset_at"))
        error.retry_after = _seconds(_first(context, "retryafter", "retry_after"))
    return RpcFailure(error, from_service, never_sent)


def _status(failure: grpc.RpcError) -> tuple[grpc.StatusCode, str, Any]:
    """The status code, details and trailing metadata of a failure (a bare
    ``grpc.RpcError`` that is no ``grpc.Call`` has none: UNKNOWN)."""
    if not isinstance(failure, grpc.Call):
        return grpc.StatusCode.UNKNOWN, "", None
    return (failure.code() or grpc.StatusCode.UNKNOWN, failure.details() or "",
            failure.trailing_metadata())


def _read_trailers(trailers: Any) -> tuple[str | None, bool, dict[str, str]]:
    """The service's ``error-code`` (None when absent), ``x-retryable`` and the
    ``error-context-*`` entries of trailing metadata."""
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
    return code, retryable, context


#: The codes of gRPC's own failures (no ``error-code`` trailer) that have a name of their
#: own; the others are ``internalError``.
_GRPC_OWN_CODES: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.DEADLINE_EXCEEDED: "timeout",
    grpc.StatusCode.CANCELLED: "cancelled",
}


def _grpc_own(status: grpc.StatusCode, details: str, cls: type[SpectrumError],
              retryable: bool) -> tuple[type[SpectrumError], str, bool, bool]:
    """A failure of gRPC itself rather than the service's handlers: its class, code,
    retryability and whether the request never left this process."""
    lowered = details.lower()
    if status == grpc.StatusCode.UNAVAILABLE:
        # No connection, or the connection broke: with the same idempotency key a retry is
        # always safe, whether or not the request had reached the server.
        never_sent = any(pattern in lowered for pattern in _NOT_CONNECTED)
        return cls, "serviceUnavailable", True, never_sent
    if status == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in lowered:
        # gRPC's own message size limit, not the service throttling us.
        return ValidationError, "messageTooLarge", retryable, False
    return cls, _GRPC_OWN_CODES.get(status, "internalError"), retryable, False


def _first(context: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` present in a context map (metadata keys are lowercase)."""
    lowered = {key.lower(): value for key, value in context.items()}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def _moment(raw: str | None) -> datetime | None:
    """An ISO 8601 time or epoch seconds from an error context, as an aware UTC datetime."""
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if not math.isfinite(seconds) or not 0 <= seconds < 1e11:
        return None
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)


def _seconds(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None
