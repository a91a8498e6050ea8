"""The one backoff formula: exponential growth, capped, with full jitter.

Used by call retries, stream reconnects, token refresh retries and state-store commit
retries. The exponent is clamped before the power is computed, so that a week of failures
(thousands of attempts) never overflows a float: ``2.0 ** 1025`` raises ``OverflowError``.
"""

from __future__ import annotations

import random

__all__ = ["backoff_ceiling", "jittered"]

_MAX_EXPONENT = 62  # 2**62 times any sane base already exceeds every cap


def backoff_ceiling(attempt: int, base: float, cap: float) -> float:
    """``min(cap, base * 2**attempt)`` for attempt 0, 1, 2...; never overflows."""
    exponent = min(max(attempt, 0), _MAX_EXPONENT)
    return min(cap, base * float(1 << exponent))


def jittered(attempt: int, base: float, cap: float, *, floor: float = 0.0) -> float:
    """A full-jitter delay: uniform in ``[floor * ceiling, ceiling]``.

    ``floor=0`` is AWS's "full jitter" (retries of unary calls); reconnects use ``0.5`` so
    that a thundering herd still spreads out but no retry comes back at once."""
    ceiling = backoff_ceiling(attempt, base, cap)
    return ceiling * (floor + (1.0 - floor) * random.random())
