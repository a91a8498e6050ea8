"""Errors the emulator answers with: a gRPC status plus Spectrum's trailing metadata.

Handlers raise :class:`EmulatorError`; the gateway turns it into the status and the
trailers a real server sends (``error-code``, ``x-retryable``, ``error-context-<key>``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping

import grpc

# gRPC refuses a call whose trailers exceed its metadata limit (8 KiB by default on the
# receiving side) with RESOURCE_EXHAUSTED, hiding the real error; and a metadata value that is
# not printable ASCII fails the call with INTERNAL. Context values often echo client input (a
# chat guid, a message guid), so every value is escaped and clipped, and the number of context
# entries and the length of the status message are bounded: all trailers stay near 3 KiB.
MAX_CONTEXT_VALUE = 256
MAX_CONTEXT_ENTRIES = 8
MAX_STATUS_MESSAGE = 512
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked with ``...`` when cut."""
    return text if len(text) <= limit else text[:max(0, limit - 3)] + "..."


def header_value(text: str, limit: int = MAX_CONTEXT_VALUE) -> str:
    """``text`` as a legal, bounded metadata value: printable ASCII, escapes for the rest."""
    if _UNPRINTABLE.search(text):
        # Escape only the head: a 20 KB value must not be escaped whole just to be cut.
        text = _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"),
                                text[:limit])
    return clip(text, limit)


class EmulatorError(Exception):
    """A failed call: gRPC status, camelCase error code, retry hint and context map."""

    def __init__(
        self,
        status: grpc.StatusCode,
        error_code: str,
        message: str,
        *,
        retryable: bool = False,
        context: Mapping[str, str] | None = None,
    ) -> None:
        message = clip(message, MAX_STATUS_MESSAGE)
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.retryable = retryable
        self.context = dict(context or {})

    def trailers(self) -> tuple[tuple[str, str], ...]:
        """The trailing metadata that describes this error on the wire (bounded in size)."""
        pairs = [("error-code", header_value(self.error_code, 64)),
                 ("x-retryable", _bool(self.retryable))]
        for key, value in list(self.context.items())[:MAX_CONTEXT_ENTRIES]:
            name = re.sub(r"[^a-z0-9_.-]", "", str(key).lower())[:64]
            if name:
                pairs.append((f"error-context-{name}", header_value(str(value))))
        return tuple(pairs)

    def abort(self, context: grpc.ServicerContext) -> None:
        """End the RPC with this error (raises, as ``context.abort`` does)."""
        context.set_trailing_metadata(self.trailers())
        context.abort(self.status, self.message)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def invalid(message: str, **context: str) -> EmulatorError:
    """INVALID_ARGUMENT ``invalidArgument``."""
    return EmulatorError(grpc.StatusCode.INVALID_ARGUMENT, "invalidArgument", message,
                         context=context)


def not_found(error_code: str, message: str, **context: str) -> EmulatorError:
    """NOT_FOUND with a specific code (``chatNotFound``, ``messageNotFound``, ...)."""
    return EmulatorError(grpc.StatusCode.NOT_FOUND, error_code, message, context=context)


def precondition(message: str, error_code: str = "preconditionFailed") -> EmulatorError:
    """FAILED_PRECONDITION (``preconditionFailed`` or ``operationNotSupported``)."""
    return EmulatorError(grpc.StatusCode.FAILED_PRECONDITION, error_code, message)


def duplicate_message(client_message_id: str) -> EmulatorError:
    """ALREADY_EXISTS ``duplicateMessage``: this ``client_message_id`` was carried out
    before (the original went through); not retryable."""
    return EmulatorError(
        grpc.StatusCode.ALREADY_EXISTS, "duplicateMessage",
        "a request with this client_message_id was already carried out",
        context={"clientMessageId": client_message_id})


def unsupported(message: str) -> EmulatorError:
    """FAILED_PRECONDITION ``operationNotSupported`` (e.g. groups on the shared plan)."""
    return precondition(message, "operationNotSupported")


def unauthenticated(message: str, error_code: str = "unauthenticated") -> EmulatorError:
    """UNAUTHENTICATED (``unauthenticated`` or ``tokenExpired``)."""
    return EmulatorError(grpc.StatusCode.UNAUTHENTICATED, error_code, message)


def unavailable(message: str) -> EmulatorError:
    """UNAVAILABLE ``serviceUnavailable``, retryable: what a reset stream looks like."""
    return EmulatorError(grpc.StatusCode.UNAVAILABLE, "serviceUnavailable", message,
                         retryable=True)


def status_from_name(name: str | grpc.StatusCode) -> grpc.StatusCode:
    """``"UNAVAILABLE"`` (any case) or a ``grpc.StatusCode`` -> ``grpc.StatusCode``."""
    if isinstance(name, grpc.StatusCode):
        return name
    try:
        return grpc.StatusCode[name.upper()]
    except KeyError:
        raise ValueError(f"unknown gRPC status {name!r}") from None


# Default error code per status, used by fault injection when none is given.
DEFAULT_ERROR_CODES: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAUTHENTICATED: "unauthenticated",
    grpc.StatusCode.PERMISSION_DENIED: "unauthorized",
    grpc.StatusCode.NOT_FOUND: "chatNotFound",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "burstRateExceeded",
    grpc.StatusCode.INVALID_ARGUMENT: "invalidArgument",
    grpc.StatusCode.FAILED_PRECONDITION: "preconditionFailed",
    grpc.StatusCode.UNAVAILABLE: "serviceUnavailable",
    grpc.StatusCode.DEADLINE_EXCEEDED: "timeout",
    grpc.StatusCode.INTERNAL: "internalError",
}


class ControlError(ValueError):
    """Bad input to the emulator's Python control API (wraps the would-be gRPC error)."""

    def __init__(self, error: EmulatorError) -> None:
        super().__init__(error.message)
        self.error = error


class ControlLookupError(ControlError, KeyError):
    """The control API was given something that does not exist (chat, message, poll)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.error.message


@contextlib.contextmanager
def control_errors() -> Iterator[None]:
    """Turn :class:`EmulatorError` into ``ValueError`` / ``KeyError`` for Python callers."""
    try:
        yield
    except EmulatorError as exc:
        if exc.status == grpc.StatusCode.NOT_FOUND:
            raise ControlLookupError(exc) from None
        raise ControlError(exc) from None
