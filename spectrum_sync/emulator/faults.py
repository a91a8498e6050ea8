"""Fault injection: failing calls, delays, and stream cuts every N frames."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import grpc

from spectrum_sync.emulator.errors import DEFAULT_ERROR_CODES, EmulatorError, status_from_name


@dataclass
class FailRule:
    """Fail the next ``remaining`` calls matching ``method`` with ``error``.

    ``method=None`` matches unary calls only, so that background streams of a client do not
    swallow failures meant for its sends; name a streaming method to fail stream opens.
    ``after=True`` runs the call first and then fails it (a lost response), which is what
    exercises idempotent retries.
    """

    remaining: int
    error: EmulatorError
    method: str | None
    after: bool


class FaultInjector:
    """The emulator's active faults (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FailRule] = []
        self._delays: dict[str | None, float] = {}
        self.cut_every = 0

    def fail_next(self, count: int, code: str | grpc.StatusCode = "UNAVAILABLE",
                  retryable: bool = True, method: str | None = None,
                  error_code: str | None = None, message: str = "injected fault",
                  after: bool = False, context: dict[str, str] | None = None) -> None:
        """Fail the next ``count`` matching calls with status ``code``."""
        status = status_from_name(code)
        error = EmulatorError(status, error_code or DEFAULT_ERROR_CODES.get(status,
                              "internalError"), message, retryable=retryable, context=context)
        with self._lock:
            self._rules.append(FailRule(count, error, method, after))

    def take(self, method: str, streaming: bool) -> FailRule | None:
        """Consume one failure for this call, if a rule matches."""
        with self._lock:
            for rule in self._rules:
                matches = rule.method == method if rule.method else not streaming
                if matches and rule.remaining > 0:
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def delay(self, seconds: float, method: str | None = None) -> None:
        """Hold every call (or every call of ``method``) for ``seconds`` before answering."""
        with self._lock:
            if seconds > 0:
                self._delays[method] = seconds
            else:
                self._delays.pop(method, None)

    def delay_for(self, method: str) -> float:
        """The delay that applies to ``method``."""
        with self._lock:
            return self._delays.get(method, self._delays.get(None, 0.0))

    def clear(self) -> None:
        """Remove every fault (failures, delays, periodic cuts)."""
        with self._lock:
            self._rules.clear()
            self._delays.clear()
            self.cut_every = 0
