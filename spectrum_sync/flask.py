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

    @spectrum.on_message                     # run by `flask spectrum listen`
    def on_streamed(msg): ...

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
import signal
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, TypeVar, overload

try:
    import click
    import flask
    from flask.cli import AppGroup
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError("spectrum_sync.flask needs Flask: pip install 'spectrum-sync[flask]'"
                      ) from exc

from . import webhooks
from ._bodies import BodyTooLarge, read_limited
from ._envnames import PREFIX as _PREFIX
from ._framework import ClientHolder, client_kwargs, health_report, webhook_secret

if TYPE_CHECKING:
    from ._client import Client
    from ._state.base import StateStore

__all__ = ["Spectrum", "health", "webhook"]

log = logging.getLogger("spectrum_sync.flask")

_EXTENSION = "spectrum"
#: The endpoint name of the webhook route.
ENDPOINT = "spectrum_webhook"
#: The endpoint name of the health route.
HEALTH_ENDPOINT = "spectrum_health"

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
            lambda: ext.webhook_secret or webhook_secret(_settings(app)), store=self.store,
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
    (``POST``); ``webhook_secret`` overrides ``SPECTRUM_WEBHOOK_SECRET`` (config, then
    environment); ``client_factory(app)`` replaces the default ``Client(**config)``;
    ``health_path`` (or ``SPECTRUM_HEALTH_PATH``) mounts the health view (``GET``, off by
    default). The CLI
    gains ``flask spectrum listen``, which runs the :meth:`on_message` / :meth:`on_event`
    handlers."""

    def __init__(self, app: flask.Flask | None = None, *, webhook_path: str | None = None,
                 webhook_secret: str | None = None,
                 client_factory: Callable[[flask.Flask], Client] | None = None,
                 health_path: str | None = None) -> None:
        self.webhook_path = webhook_path
        self.health_path = health_path
        self.webhook_secret = webhook_secret
        self._client_factory = client_factory
        self._registry = webhooks.WebhookDispatcher()
        self._receive: list[tuple[tuple[str, ...], Callable[..., object]]] = []
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
        path = self.webhook_path or _settings(app).get("WEBHOOK_PATH")
        if path:
            app.add_url_rule(path, endpoint=ENDPOINT, view_func=webhook, methods=["POST"])
        health_path = self.health_path or _settings(app).get("HEALTH_PATH")
        if health_path:
            app.add_url_rule(health_path, endpoint=HEALTH_ENDPOINT, view_func=health,
                             methods=["GET"])
        app.cli.add_command(_commands(self))
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


    def on_message(self, handler: H) -> H:
        """Decorator: ``flask spectrum listen`` calls ``handler(message)`` for each received
        message (inside an app context)."""
        self._receive.append((("message",), handler))
        return handler

    def on_event(self, *kinds: str) -> Callable[[H], H]:
        """Decorator: ``flask spectrum listen`` calls the handler for events of ``kinds``
        (every kind when none), inside an app context."""
        from ._events import EVENT_KINDS

        unknown = [k for k in kinds if k not in EVENT_KINDS]
        if unknown:
            raise ValueError(f"unknown event kind(s) {unknown}: choose from "
                             f"{', '.join(EVENT_KINDS)}")

        def register(handler: H) -> H:
            self._receive.append((tuple(kinds), handler))
            return handler

        return register

    def listen(self, app: flask.Flask, *, workers: int = 1, include_own: bool = False,
               announce: Callable[[str], None] | None = None) -> None:
        """Run the receive loop with the registered handlers until SIGINT or SIGTERM, on a
        client of its own (closed at the end). What ``flask spectrum listen`` runs."""
        if not self._receive:
            from ._errors import ConfigurationError

            raise ConfigurationError(
                "no handlers registered: decorate functions with @spectrum.on_message or "
                "@spectrum.on_event(kind)")
        # Until the receive loop installs its own handlers, SIGTERM stops as Ctrl-C does.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        client = None
        try:
            client = self._make_client(app)
            for kinds, handler in self._receive:
                client.on_event(*kinds)(_in_app_context(app, handler))
            if announce is not None:
                announce(f"Listening on {', '.join(client.phones)} with "
                         f"{len(self._receive)} handler(s); Ctrl-C to stop")
            client.run_forever(workers=workers, include_own=include_own)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            if client is not None:
                client.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _in_app_context(app: flask.Flask, handler: Callable[..., object],
                    ) -> Callable[[Any], object]:
    """Each event is handled in its own app context, as a request is: extensions that clean
    up at teardown (database sessions) do so after every event."""

    def run(event: Any) -> object:
        with app.app_context():
            return handler(event)

    run.__name__ = getattr(handler, "__name__", "handler")
    run.__qualname__ = getattr(handler, "__qualname__", run.__name__)
    return run


def _commands(ext: Spectrum) -> click.Group:
    group = AppGroup("spectrum", help="Spectrum (iMessage) commands.")

    @group.command("listen")
    @click.option("--workers", default=1, show_default=True, type=int,
                  help="Handler threads (order is kept within each chat).")
    @click.option("--include-own", is_flag=True,
                  help="Also deliver our own sends echoed by the server.")
    def listen(workers: int, include_own: bool) -> None:
        """Receive events and run the @spectrum.on_message / on_event handlers until
        Ctrl-C or SIGTERM."""
        from ._errors import SpectrumError

        app = flask.current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            ext.listen(app, workers=workers, include_own=include_own,
                       announce=lambda text: click.echo(text))
        except SpectrumError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo("Stopped")

    return group


def webhook() -> flask.Response:
    """The webhook view (mounted by ``webhook_path``, or by hand:
    ``app.add_url_rule("/hook", view_func=spectrum_sync.flask.webhook, methods=["POST"])``;
    CSRF extensions must exempt it: ``csrf.exempt(spectrum_sync.flask.webhook)``)."""
    state = flask.current_app.extensions.get(_EXTENSION)
    if not isinstance(state, _AppState):
        raise RuntimeError("spectrum_sync.flask.Spectrum was not attached to this app")
    request = flask.request
    limit = state.dispatcher.max_body
    length = request.content_length
    try:
        if length is not None and length > limit:
            raise BodyTooLarge(limit)
        # From the stream, never get_data(): a chunked body has no length to check first.
        body = read_limited(request.stream.read, limit)
    except BodyTooLarge:
        log.warning("webhook refused (413): the body is larger than %d bytes", limit)
        return flask.Response("body-too-large", status=413, mimetype="text/plain")
    result = state.dispatcher.handle(body, request.headers)
    return flask.Response(result.text, status=result.status, mimetype="text/plain")


def health() -> flask.Response:
    """The health view for load balancers and Kubernetes probes (mounted by ``health_path``,
    or by hand): JSON of the set-up checks that send nothing to Spectrum and the receive
    health per line; 200 when every check passes, else 503."""
    state = flask.current_app.extensions.get(_EXTENSION)
    if not isinstance(state, _AppState):
        raise RuntimeError("spectrum_sync.flask.Spectrum was not attached to this app")
    status, body = health_report(state.holder)
    response = flask.jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
