"""The exception hierarchy. Every failure the library raises is a :class:`SpectrumError`.

This module is a leaf: it imports nothing from gRPC or the rest of the package, so any layer
can raise these errors. The translation of gRPC failures lives in :mod:`._wire.errors`.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import grpc

__all__ = [
    "AlreadyReceiving",
    "AlreadySent",
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
    "StateStoreError",
    "UnsupportedError",
    "ValidationError",
]


class SpectrumError(Exception):
    """Base of every error raised by spectrum_sync.

    Attributes: ``code`` (the service's camelCase error code, e.g. ``"chatNotFound"``),
    ``retryable`` (a retry with the same idempotency key is safe), ``grpc_code`` /
    ``http_status`` (where the failure came from), ``context`` (key/value details from the
    server), ``idempotency_key`` (the key of the mutating call that failed, so the caller
    can retry it without risking a duplicate; None for reads and local failures) and
    ``outcome`` for failed calls: ``"not_sent"`` (the request never left this process),
    ``"rejected"`` (the service answered with this error: nothing happened), ``"unknown"``
    (the connection broke or the deadline passed after the request left: it may have been
    carried out) or ``"sent"`` (:class:`AlreadySent`: an earlier call with the same key went
    through); None for failures that are not calls. docs/errors.md lists every code.
    """

    default_code = "internalError"
    #: The REST API's own spelling of the code (``INVALID_CREDENTIALS``) for failures of
    #: the token exchange; None otherwise.
    rest_code: str | None = None
    #: Attributes holding live objects (a message handle bound to its client) that cannot
    #: cross processes: None after unpickling.
    _not_pickled: tuple[str, ...] = ()

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool = False,
        grpc_code: grpc.StatusCode | None = None,
        http_status: int | None = None,
        context: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.retryable = retryable
        self.grpc_code = grpc_code
        self.http_status = http_status
        self.context: dict[str, str] = dict(context or {})
        self.idempotency_key = idempotency_key
        self.outcome: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments than ``args`` holds, so the default
        # pickling (``cls(*args)``) fails; errors cross processes (Celery results,
        # multiprocessing), so rebuild from the attributes instead of the constructor.
        state = {name: (None if name in self._not_pickled else value)
                 for name, value in self.__dict__.items()}
        return (_rebuild, (type(self), self.args, state))

    def __str__(self) -> str:
        return f"{self.message} (code={self.code})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class AuthenticationError(SpectrumError):
    """Credentials or token rejected (UNAUTHENTICATED / PERMISSION_DENIED, HTTP 401/403)."""

    default_code = "unauthenticated"


class NotFoundError(SpectrumError):
    """The chat, message, address, ... does not exist (NOT_FOUND)."""

    default_code = "notFound"


class RateLimitError(SpectrumError):
    """The service throttled the call (RESOURCE_EXHAUSTED).

    ``scope`` says what the throttle holds back (docs/errors.md): ``"line"`` (every send of
    the line), ``"new_conversations"`` (only chats the line never wrote to),
    ``"recipient"`` (only this recipient), ``"content"`` (only this text), ``"uploads"``
    (only file uploads), or ``None`` for a code the library does not know. ``resets_at``
    (UTC ``datetime``) and ``retry_after`` (seconds) come from the error's context when the
    server gives them."""

    default_code = "burstRateExceeded"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.scope: str | None = None
        self.resets_at: datetime | None = None
        self.retry_after: float | None = None


class QuotaExceeded(RateLimitError):
    """A daily quota of a line is spent.

    ``kind`` is ``"messages"`` or ``"new_conversations"``; ``limit`` the quota (``None`` when
    the server did not say), ``line`` the phone number of the line and ``resets_at`` the UTC
    time the quota resets.
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
        self.scope = "line" if kind == "messages" else "new_conversations"


class AlreadySent(SpectrumError):
    """The service answered ``duplicateMessage``: an earlier call with the same
    ``idempotency_key`` went through, so nothing new was sent (``outcome`` is ``"sent"``).

    A send returns the original :class:`~spectrum_sync.Message` instead of raising whenever
    the state store remembers the key (see docs/behaviour.md, "Idempotency"); this error is
    raised only when it does not (another store, or the record expired). Treat it as
    success."""

    default_code = "duplicateMessage"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.outcome = "sent"


class ValidationError(SpectrumError, ValueError):
    """Invalid input: refused by a client-side check before any network call, or by the
    server (INVALID_ARGUMENT / FAILED_PRECONDITION). Also a :class:`ValueError`."""

    default_code = "invalidArgument"


class InvalidAddress(ValidationError):
    """An address is neither a valid phone number nor a valid e-mail address."""

    def __init__(self, address: object, reason: str) -> None:
        super().__init__(f"invalid address {address!r}: {reason}", code="invalidArgument")
        self.address = address


class ConnectionError(SpectrumError, builtins.ConnectionError):
    """The service could not be reached, or did not answer in time (UNAVAILABLE,
    DEADLINE_EXCEEDED, network failures of the token exchange).

    The name follows what it means for the caller; it is also a subclass of the built-in
    :class:`ConnectionError`, so generic network handlers catch it. Import it as
    ``spectrum.ConnectionError`` (it shadows the built-in name only if imported bare).
    ``code`` is ``serviceUnavailable`` when the request never left the client (safe to retry)
    and ``timeout`` when the deadline passed (for a mutating call the outcome is unknown:
    retry with the same ``idempotency_key``).
    """

    default_code = "serviceUnavailable"


class UnsupportedError(SpectrumError):
    """The operation is not possible in this mode (e.g. group chats in shared mode), or the
    service answered ``operationNotSupported`` / ``privateApiUnavailable``.

    Raised by the library as ``UnsupportedError(feature, mode, reason)``; from a service
    answer, ``mode`` is None and the message is the service's."""

    default_code = "operationNotSupported"

    def __init__(self, feature: str, mode: str | None = None, reason: str = "",
                 **kwargs: Any) -> None:
        detail = f": {reason}" if reason else ""
        message = feature if mode is None else f"{feature} is not supported in {mode} mode{detail}"
        super().__init__(message, **kwargs)
        self.feature = feature
        self.mode = mode


class ConfigurationError(SpectrumError):
    """Missing, invalid or contradictory configuration; the message says what to set."""

    default_code = "configurationError"


class ClientClosed(SpectrumError):
    """The client was closed; create a new one."""

    default_code = "clientClosed"


class CloudError(SpectrumError):
    """The Spectrum Cloud REST API (token exchange) failed or answered something unusable.

    ``code`` is camelCase like every other code (``invalidCredentials``); ``rest_code`` keeps
    the REST API's own spelling (``INVALID_CREDENTIALS``), as earlier versions put in
    ``code``."""

    default_code = "unknown"


class RoutingError(SpectrumError):
    """No line can be chosen for a space (unknown or ambiguous phone number)."""

    default_code = "routingError"

    def __init__(self, message: str, available: list[str]) -> None:
        numbers = ", ".join(available) if available else "none"
        super().__init__(f"{message}; available numbers: {numbers}")
        self.available = list(available)


class StateStoreError(SpectrumError):
    """The state store (``state=``: SQLite file, Redis, a custom store) failed.

    ``store`` names it (the file path or URL). A failure of bookkeeping after a successful
    send is logged and reported in ``client.health()``, never raised from the send."""

    default_code = "stateStoreError"

    def __init__(self, message: str, *, store: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.store = store


class AlreadyReceiving(SpectrumError):
    """A second receive loop was started on a client that already has one.

    A client reads its lines through one set of streams and one cursor per stream, so it
    serves one consumer at a time: close the first inbox (``inbox.close()``, or leave its
    ``with`` block) or read it to its end, stop a ``start()`` handle, use callbacks with
    ``workers=N`` to process in parallel, or give the second consumer its own client."""

    default_code = "alreadyReceiving"


def _rebuild(cls: type[SpectrumError], args: tuple[Any, ...],
             state: dict[str, Any]) -> SpectrumError:
    """Unpickle a :class:`SpectrumError` (of any subclass) without calling its constructor."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


# Tracebacks name an exception by its module: show the public one users import and catch.
for _name in __all__:
    globals()[_name].__module__ = "spectrum_sync"
del _name
