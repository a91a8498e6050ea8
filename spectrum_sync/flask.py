"""Flask integration: one lazily made client per process, and Spectrum's webhooks.

::

    from flask import Flask
    from spectrum_sync.flask import Spectrum

    app = Flask(__name__)
    spectrum = Spectrum(app, webhook_path="/spectrum/webhook")   # or Spectrum() + init_app(app)

    @app.post("/orders/<int:order_id>/shipped")
    def shipped(order_id):
        space = spectrum.client.space.create(request.form["phone"])
        space.send("Your order has shipped", idempotency_key=f"order-{order_id}-shipped",
                   timeout=10)
        return "", 204

    @spectrum.on_webhook("message")
    def on_message(msg):
        msg.reply("got it", idempotency_key=f"ack-{msg.guid}")

Configuration: ``app.config["SPECTRUM_PROJECT_ID"]``, ``SPECTRUM_PROJECT_SECRET``,
``SPECTRUM_CLOUD_URL``, ``SPECTRUM_IMESSAGE_ADDRESS``, ``SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE``,
``SPECTRUM_IMESSAGE_TLS``, ``SPECTRUM_TLS_CA_FILE``, ``SPECTRUM_STATE``, ``SPECTRUM_TIMEOUT``,
``SPECTRUM_DEFAULT_REGION``, ``SPECTRUM_QUOTA_LIMITS``, ``SPECTRUM_RETRY``,
``SPECTRUM_RECEIVE``, ``SPECTRUM_LINES``, ``SPECTRUM_WEBHOOK_SECRET``,
``SPECTRUM_WEBHOOK_PATH``; what the config leaves out comes from the environment variables of
the same names. The config is read when the client is first used, not by ``init_app``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, TypeVar, overload

import flask

from . import webhooks
from ._framework import ClientHolder, client_kwargs, webhook_secret

if TYPE_CHECKING:
    from ._client import Client
    from ._state.base import StateStore

__all__ = ["Spectrum", "webhook"]

log = logging.getLogger("spectrum_sync.flask")

_EXTENSION = "spectrum"
_PREFIX = "SPECTRUM_"
#: The endpoint name of the webhook route.
ENDPOINT = "spectrum_webhook"

H = TypeVar("H", bound=Callable[..., object])


def _settings(app: flask.Flask) -> dict[str, Any]:
    return {key[len(_PREFIX):]: value for key, value in app.config.items()
            if key.startswith(_PREFIX)}


class _AppState:
    """What one app holds: its client and its webhook dispatcher."""

    def __init__(self, ext: Spectrum, app: flask.Flask) -> None:
        self.app = app
        self.holder = ClientHolder(lambda: ext._make_client(app))
        self._fallback: StateStore | None = None
        self.dispatcher = webhooks.WebhookDispatcher(
            lambda: webhook_secret(_settings(app)), store=self.store,
            client=self.holder.get_or_none, handlers_from=ext._registry)

    def store(self) -> StateStore:
        """Where handled webhook ids are kept: the client's state store (``SPECTRUM_STATE``
        shares it between processes), or this process's memory without credentials."""
        client = self.holder.get_or_none()
        if client is not None:
            return client.state
        if self._fallback is None:
            from ._state.memory import MemoryStore

            log.warning("no Spectrum credentials: webhook ids are deduplicated in this "
                        "process only")
            self._fallback = MemoryStore()
        return self._fallback


class Spectrum:
    """The Flask extension. ``Spectrum(app)``, or ``Spectrum()`` then ``init_app(app)`` in an
    app factory. ``webhook_path`` (or ``SPECTRUM_WEBHOOK_PATH``) mounts the webhook view
    (``POST``); ``client_factory(app)`` replaces the default ``Client(**config)``."""

    def __init__(self, app: flask.Flask | None = None, *, webhook_path: str | None = None,
                 client_factory: Callable[[flask.Flask], Client] | None = None) -> None:
        self.webhook_path = webhook_path
        self._client_factory = client_factory
        self._registry = webhooks.WebhookDispatcher()
        self._app: flask.Flask | None = None
        if app is not None:
            self.init_app(app)

    def __repr__(self) -> str:
        return f"Spectrum(app={self._app.name if self._app is not None else None!r})"

    def init_app(self, app: flask.Flask) -> None:
        """Attach to ``app``: no client is made, no config is required yet."""
        if _EXTENSION in app.extensions:
            raise RuntimeError("spectrum_sync.flask.Spectrum is already attached to this app")
        app.extensions[_EXTENSION] = _AppState(self, app)
        path = self.webhook_path or app.config.get("SPECTRUM_WEBHOOK_PATH")
        if path:
            app.add_url_rule(path, endpoint=ENDPOINT, view_func=webhook, methods=["POST"])
        self._app = app

    def _make_client(self, app: flask.Flask) -> Client:
        if self._client_factory is not None:
            return self._client_factory(app)
        from ._client import Client

        return Client(**client_kwargs(_settings(app)))

    def _state(self) -> _AppState:
        app = flask.current_app if flask.has_app_context() else self._app
        if app is None:
            raise RuntimeError("spectrum_sync.flask: no app (call init_app(app), and use "
                               "the client inside an app or request context)")
        state = app.extensions.get(_EXTENSION)
        if not isinstance(state, _AppState):
            raise RuntimeError("spectrum_sync.flask.Spectrum was not attached to this app: "
                               "call spectrum.init_app(app)")
        return state

    @property
    def client(self) -> Client:
        """This process's client for the current app, made on first use (a
        :class:`~spectrum_sync.ConfigurationError` when credentials are missing)."""
        return self._state().holder.get()

    def close(self) -> None:
        """Close the current app's client (it is also closed at exit; a later use makes a new
        one)."""
        self._state().holder.close()

    @property
    def webhooks(self) -> webhooks.WebhookDispatcher:
        """The current app's webhook dispatcher (``handle(body, headers)``)."""
        return self._state().dispatcher

    @overload
    def on_webhook(self, func: H, /) -> H: ...

    @overload
    def on_webhook(self, *kinds: str, with_envelope: bool = False) -> Callable[[H], H]: ...

    def on_webhook(self, *kinds: Any, with_envelope: bool = False) -> Any:
        """Decorator: call the handler for each webhook event (``@spectrum.on_webhook``), or
        for events of ``kinds`` (``@spectrum.on_webhook("message", "reaction")``).
        ``with_envelope=True`` passes the :class:`~spectrum_sync.webhooks.WebhookEnvelope`
        too. A handler that raises makes the view answer 500, so the sender retries."""
        return self._registry.on_webhook(*kinds, with_envelope=with_envelope)


def webhook() -> flask.Response:
    """The webhook view (mounted by ``webhook_path``, or by hand:
    ``app.add_url_rule("/hook", view_func=spectrum_sync.flask.webhook, methods=["POST"])``;
    CSRF extensions must exempt it: ``csrf.exempt(spectrum_sync.flask.webhook)``)."""
    state = flask.current_app.extensions.get(_EXTENSION)
    if not isinstance(state, _AppState):
        raise RuntimeError("spectrum_sync.flask.Spectrum was not attached to this app")
    request = flask.request
    length = request.content_length
    if length is not None and length > state.dispatcher.max_body:
        result = webhooks.WebhookResponse(413, "body-too-large")
    else:
        result = state.dispatcher.handle(request.get_data(cache=False), request.headers)
    return flask.Response(result.text, status=result.status, mimetype="text/plain")
