"""Django integration: the app ``spectrum_sync.django``.

Add ``"spectrum_sync.django"`` to ``INSTALLED_APPS`` and configure with a ``SPECTRUM`` dict in
the settings (keys named like the environment variables without the ``SPECTRUM_`` prefix:
``PROJECT_ID``, ``PROJECT_SECRET``, ``CLOUD_URL``, ``STATE``, ``TIMEOUT``, ``WEBHOOK_SECRET``,
...; what it leaves out comes from the environment). Then::

    from spectrum_sync.django import client          # a lazy proxy: no credentials needed to import

    def shipped(request, order_id):
        space = client.space.create(request.POST["phone"])
        space.send("Your order has shipped", idempotency_key=f"order-{order_id}-shipped",
                   timeout=10)

Handlers, in ``<app>/spectrum_handlers.py`` (imported at start-up, like ``admin.py``; or in
modules listed in ``SPECTRUM["HANDLERS"]``)::

    from spectrum_sync.django import on_message, on_event, on_webhook

    @on_message                      # run by `manage.py spectrum_listen`
    def greet(msg): msg.reply("hi")

    @on_webhook("message")           # run by the webhook view
    def hooked(msg): ...

The webhook view: ``path("spectrum/webhook/", include("spectrum_sync.django.urls"))`` (or
``spectrum_sync.django.views.webhook``). Nothing in this module imports Django.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from .registry import (
    close_client,
    dispatcher,
    get_client,
    on_event,
    on_message,
    on_webhook,
    settings,
)

if TYPE_CHECKING:
    from spectrum_sync import Client

__all__ = [
    "client",
    "close_client",
    "dispatcher",
    "get_client",
    "on_event",
    "on_message",
    "on_webhook",
    "settings",
]


class _LazyClient:
    """Stands for this process's client and makes it on first attribute access, so that
    importing it (in views, models, settings-time code) never needs credentials."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(get_client(), name)

    def __repr__(self) -> str:
        from .registry import holder

        made = holder.peek()
        return repr(made) if made is not None else "<spectrum_sync.Client (not made yet)>"

    def __dir__(self) -> list[str]:
        return dir(get_client())


#: This process's :class:`~spectrum_sync.Client`, made on first use from the settings.
client = cast("Client", _LazyClient())
