"""State stores (routing, quota counters, receive cursors) and ``state=`` URLs."""

from __future__ import annotations

from .._errors import ConfigurationError
from .base import StateStore
from .memory import MemoryStore

__all__ = ["MemoryStore", "StateStore", "open_store"]


def open_store(value: object) -> tuple[StateStore, bool]:
    """The store for a client's ``state=`` argument, and whether the client owns (closes) it.

    ``None`` or ``"memory:"`` gives a new :class:`MemoryStore`; ``"sqlite:///path/state.db"``
    (relative) or ``"sqlite:////abs/path.db"`` opens a :class:`~.sqlite.SQLiteStore`; a store
    object is used as is and not closed by the client.
    """
    if value is None or value == "memory:":
        return MemoryStore(), True
    if isinstance(value, str):
        prefix = "sqlite:///"
        if value.startswith(prefix) and len(value) > len(prefix):
            from .sqlite import SQLiteStore

            return SQLiteStore(value[len(prefix):]), True
        raise ConfigurationError(
            f"state={value!r}: use 'sqlite:///path/to/state.db', 'memory:' or a StateStore"
        )
    if isinstance(value, StateStore):
        return value, False
    raise ConfigurationError(
        f"state= takes a StateStore or a URL such as 'sqlite:///state.db', "
        f"not {type(value).__name__}"
    )
