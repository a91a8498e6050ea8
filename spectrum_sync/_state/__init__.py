"""State stores (routing, quota counters, receive cursors) and ``state=`` URLs."""

from __future__ import annotations

from .._errors import ConfigurationError
from .base import StateStore
from .memory import MemoryStore

__all__ = ["MemoryStore", "StateStore", "open_store"]

_REDIS_SCHEMES = ("redis://", "rediss://")


def _without_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` part hidden (a mistyped Redis URL holds one)."""
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if sep and "@" in authority:
        return f"{scheme}://***@{authority.rpartition('@')[2]}{slash}{path}"
    return url


def open_store(value: object, *, namespace: str = "default") -> tuple[StateStore, bool]:
    """The store for a client's ``state=`` argument, and whether the client owns (closes) it.

    ``None`` or ``"memory:"`` gives a new :class:`MemoryStore`; ``"sqlite:///path/state.db"``
    (relative) or ``"sqlite:////abs/path.db"`` opens a :class:`~.sqlite.SQLiteStore`;
    ``"redis://[:password@]host:port/db"`` (``rediss://`` for TLS; options in the query, see
    :class:`~.redis.RedisStore`) a :class:`~.redis.RedisStore` whose keys are prefixed with
    ``namespace`` (the client's project); a store object is used as is and not closed by the
    client.
    """
    if value is None or value == "memory:":
        return MemoryStore(), True
    if isinstance(value, str):
        prefix = "sqlite:///"
        if value.startswith(prefix) and len(value) > len(prefix):
            from .sqlite import SQLiteStore

            return SQLiteStore(value[len(prefix):]), True
        if value.lower().startswith(_REDIS_SCHEMES):
            from .redis import RedisStore

            return RedisStore(value, namespace=namespace), True
        raise ConfigurationError(
            f"state={_without_credentials(value)!r}: use 'sqlite:///path/to/state.db', "
            "'redis://host:6379/0', 'rediss://...', 'memory:' or a StateStore"
        )
    if isinstance(value, StateStore):
        return value, False
    raise ConfigurationError(
        f"state= takes a StateStore or a URL such as 'sqlite:///state.db' or "
        f"'redis://host:6379/0', not {type(value).__name__}"
    )
