"""Handlers registered by decorators, the settings, and this process's client.

Kept free of Django imports at module level, so that ``spectrum_sync.django`` imports
before Django is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar, overload

from .. import webhooks
from .._framework import ClientHolder, client_kwargs, webhook_secret

if TYPE_CHECKING:
    from .._client import Client
    from .._state.base import StateStore

__all__ = [
    "close_client", "dispatcher", "get_client", "holder", "make_client", "on_event",
    "on_message", "on_webhook", "receive_handlers", "settings",
]

H = TypeVar("H", bound=Callable[..., object])

_receive: list[tuple[tuple[str, ...], Callable[..., object]]] = []


def settings() -> dict[str, Any]:
    """The ``SPECTRUM`` setting (a dict; empty when absent)."""
    from django.conf import settings as django_settings

    value = getattr(django_settings, "SPECTRUM", None) or {}
    if not isinstance(value, dict):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("settings.SPECTRUM must be a dict")
    return value


def make_client() -> Client:
    """A new client from the settings and the environment (the caller closes it)."""
    from .._client import Client

    return Client(**client_kwargs(settings()))


holder = ClientHolder(make_client)


def get_client() -> Client:
    """This process's client, made on first use (``ConfigurationError`` without
    credentials)."""
    return holder.get()


def close_client() -> None:
    """Close this process's client (a later use makes a new one from the settings)."""
    holder.close()


_fallback: list[StateStore] = []


def _store() -> StateStore:
    client = holder.get_or_none()
    if client is not None:
        return client.state
    if not _fallback:  # no credentials: ids are remembered in this process only
        from .._state.memory import MemoryStore

        _fallback.append(MemoryStore())
    return _fallback[0]


#: The webhook view's dispatcher (handlers registered with :func:`on_webhook`).
dispatcher = webhooks.WebhookDispatcher(
    lambda: webhook_secret(settings()), store=_store, client=holder.get_or_none)


def on_message(handler: H) -> H:
    """Decorator: ``manage.py spectrum_listen`` calls ``handler(message)`` for each
    received message."""
    _receive.append((("message",), handler))
    return handler


def on_event(*kinds: str) -> Callable[[H], H]:
    """Decorator: ``manage.py spectrum_listen`` calls the handler for events of ``kinds``
    (message, reaction, edit, unsend, read, sticker, group, poll; every kind when none)."""
    from .. import EVENT_KINDS

    unknown = [k for k in kinds if k not in EVENT_KINDS]
    if unknown:
        raise ValueError(f"unknown event kind(s) {unknown}: choose from "
                         f"{', '.join(EVENT_KINDS)}")

    def register(handler: H) -> H:
        _receive.append((tuple(kinds), handler))
        return handler

    return register


@overload
def on_webhook(func: H, /) -> H: ...


@overload
def on_webhook(*kinds: str, with_envelope: bool = False) -> Callable[[H], H]: ...


def on_webhook(*kinds: Any, with_envelope: bool = False) -> Any:
    """Decorator: the webhook view calls the handler for each webhook event
    (``@on_webhook``), or for events of ``kinds`` (``@on_webhook("message")``).
    ``with_envelope=True`` passes the :class:`~spectrum_sync.webhooks.WebhookEnvelope` too.
    A handler that raises makes the view answer 500, so the sender retries."""
    return dispatcher.on_webhook(*kinds, with_envelope=with_envelope)


def receive_handlers() -> list[tuple[tuple[str, ...], Callable[..., object]]]:
    """The handlers registered with :func:`on_message` / :func:`on_event`, in order."""
    return list(_receive)
