"""Bearer tokens issued by the token exchange; each names one line (or the shared pool)."""

from __future__ import annotations

import secrets
import threading

from spectrum_sync.emulator.errors import unauthenticated


class TokenRegistry:
    """token -> (line instance id, expiry). Older tokens stay valid until they expire."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def issue(self, instance_id: str, now: float, ttl: float) -> str:
        """A new token for ``instance_id`` valid for ``ttl`` seconds from ``now``."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            # Forget long-expired tokens so that the map stays small.
            stale = [t for t, (_, exp) in self._tokens.items() if exp + 3600 < now]
            for t in stale:
                del self._tokens[t]
            self._tokens[token] = (instance_id, now + ttl)
        return token

    def revoke_all(self) -> int:
        """Forget every issued token (as a secret rotation or a cloud restart does); returns
        how many were still known."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
        return count

    def resolve(self, authorization: str | None, now: float) -> str:
        """The instance id of a ``Bearer <token>`` header value, or UNAUTHENTICATED."""
        if not authorization:
            raise unauthenticated("missing authorization metadata")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated("authorization must be 'Bearer <token>'")
        return self.instance_of(token.strip(), now)

    def instance_of(self, token: str, now: float) -> str:
        """The instance id of a raw token, or UNAUTHENTICATED (``tokenExpired`` if expired)."""
        with self._lock:
            found = self._tokens.get(token)
        if found is None:
            raise unauthenticated("unknown token")
        instance_id, expires = found
        if now >= expires:
            raise unauthenticated("token expired", "tokenExpired")
        return instance_id
