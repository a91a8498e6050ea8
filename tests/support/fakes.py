"""Test doubles for unit tests of the core (no network): failed calls, lines, clocks."""

from __future__ import annotations

from typing import Any, Callable

import grpc


class FakeRpcError(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """A failed call as gRPC reports it: status, details, trailing metadata."""

    def __init__(self, status: grpc.StatusCode, details: str = "",
                 trailers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(details)
        self._status, self._details, self._trailers = status, details, trailers

    def code(self) -> grpc.StatusCode:
        return self._status

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailers

    def initial_metadata(self) -> tuple[()]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float | None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def service_error(status: str, code: str, retryable: bool = False) -> FakeRpcError:
    """An error answered by the service's handlers (it carries an error-code trailer)."""
    return FakeRpcError(getattr(grpc.StatusCode, status), f"{code} happened",
                        (("error-code", code), ("x-retryable", str(retryable).lower())))


class FakeLine:
    """A line whose unary callable runs ``answer(request, timeout, metadata)``."""

    def __init__(self, answer: Callable[..., Any], phone: str = "+15550000001") -> None:
        self.phone = phone
        self.key = phone
        self.closed = False
        self.shared = False
        self.metadata: tuple[tuple[str, str], ...] = (("authorization", "Bearer t1"),)
        self.calls: list[dict[str, Any]] = []
        self._answer = answer

    def unary(self, rpc: Any) -> Callable[..., Any]:
        def call(request: Any, timeout: float, metadata: Any) -> Any:
            self.calls.append({"request": request, "timeout": timeout,
                               "metadata": dict(metadata)})
            return self._answer(request, timeout, metadata)

        return call


class Clock:
    """A monotonic clock that only moves when told (``sleep`` moves it)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
