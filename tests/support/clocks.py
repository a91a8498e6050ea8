"""Driving token lifetimes with a test clock (docs/architecture.md, "Time in tests").

An emulator made with ``clock=ManualClock()`` and its clients follow that clock: advancing
it ages the tokens on both sides and wakes the client's refresher, which renews at 80 % of a
token's lifetime. These helpers advance it in steps and check, at each of the refresher's
turns, that a new token really was exchanged in the background before the old one expired.
"""

from __future__ import annotations

from spectrum_sync.emulator import Emulator
from spectrum_sync.emulator.clock import ManualClock

from .receiving import wait_until

__all__ = ["RENEWAL_WAIT", "age_tokens", "token_exchanges"]

RENEWS_AT = 0.8  # of a token's lifetime: the refresher's turn (docs/behaviour.md, "Tokens")
#: Real seconds a renewal may take once the clock reached its turn: less than the 4 s a
#: refresher waiting on real time instead of the clock would take with 5 s tokens.
RENEWAL_WAIT = 3.0


def token_exchanges(emu: Emulator) -> int:
    """How many token exchanges the emulator was asked for (failed ones included)."""
    assert emu.rest is not None
    return sum(1 for method, path in emu.rest.requests
               if method == "POST" and path.endswith("/imessage/tokens"))


def age_tokens(clock: ManualClock, emu: Emulator, seconds: float, *, ttl: float,
               step: float = 0.5) -> None:
    """Advance ``clock`` by ``seconds`` in ``step``s. The client's first token must have been
    obtained at the clock's time 0: each time the clock reaches a multiple of 80 % of
    ``ttl``, the refresher's turn, wait (real time, at most 3 s) until it has exchanged one
    more token, with no call to prompt it, and is waiting for its next turn; fail the test
    if it does not. One client per clock: its refresher is the clock's only waiter."""
    turn = RENEWS_AT * ttl
    assert (turn / step).is_integer(), "the steps must land on the refresher's turns"
    for _ in range(round(seconds / step)):
        clock.advance(step)
        turns = clock.now() / turn
        if turns.is_integer():
            expected = int(turns) + 1
            assert wait_until(lambda n=expected: token_exchanges(emu) >= n, RENEWAL_WAIT), (
                f"no token renewal at {clock.now()} s on the test clock: "
                f"{token_exchanges(emu)} exchanges, {expected} expected")
            # The request reached the emulator; the refresher is done once it waits again
            # (the client then holds the new token): only then may the clock move on.
            assert wait_until(lambda: clock.waiters > 0, RENEWAL_WAIT), (
                "the refresher did not go back to waiting")
