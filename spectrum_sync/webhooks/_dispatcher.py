"""The framework-free webhook endpoint: verify, parse, deduplicate, call the handlers, answer."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, TypeVar, overload

from .._envnames import WEBHOOK_SECRET
from .._events import EVENT_KINDS
from ._dedupe import Deduplicator
from ._errors import WebhookError
from ._parse import parse_envelope
from ._signatures import Headers, verify
from ._types import CUSTOM_KIND, WebhookEnvelope

if TYPE_CHECKING:
    from .._client import Client
    from .._state.base import StateStore

log = logging.getLogger("spectrum_sync.webhooks")

#: Larger bodies are refused with 413 before any parsing (real ones are a few KiB).
MAX_BODY_BYTES = 4 * 1024 * 1024


class WebhookResponse(NamedTuple):
    """What to answer: an HTTP status and a short text body."""

    status: int
    text: str


H = TypeVar("H", bound=Callable[..., object])
_KINDS = (*EVENT_KINDS, CUSTOM_KIND)


def _check_kinds(kinds: Iterable[str]) -> frozenset[str] | None:
    chosen = frozenset(kinds)
    unknown = sorted(k for k in chosen if k not in _KINDS)
    if unknown or any(not isinstance(k, str) for k in chosen):
        raise ValueError(f"unknown event kind(s) {unknown}: choose from {', '.join(_KINDS)}")
    return chosen or None


class _Handler(NamedTuple):
    kinds: frozenset[str] | None
    func: Callable[..., object]
    with_envelope: bool


class WebhookDispatcher:
    """The webhook endpoint without a web framework: ``handle(body, headers)`` verifies,
    parses, deduplicates and calls the handlers, and returns the answer the official handler
    gives (500 without a secret, 400 malformed, 401 bad signature or expired, 200 otherwise,
    also for an event type this version does not know; 500 when a handler raises, so that
    the sender retries).

    ``secret``, ``store`` and ``client`` may be callables, resolved on each request, so a
    framework can make them lazily. Without a store, ids are remembered in this process.
    ``handlers_from`` shares another dispatcher's handlers (one registry, several apps)."""

    def __init__(
        self,
        secret: str | Sequence[str] | Callable[[], str | Sequence[str] | None] | None = None,
        *,
        store: StateStore | Callable[[], StateStore] | None = None,
        client: Client | Callable[[], Client | None] | None = None,
        max_body: int = MAX_BODY_BYTES,
        handlers_from: WebhookDispatcher | None = None,
    ) -> None:
        self._secret = secret
        self._client = client
        if store is None:
            from .._state.memory import MemoryStore

            store = MemoryStore()
        self.dedupe = Deduplicator(store)
        self.max_body = max_body
        # Dispatchers made for several apps share one registry of handlers.
        self._handlers: list[_Handler] = (
            [] if handlers_from is None else handlers_from._handlers)

    @overload
    def on_webhook(self, func: H, /) -> H: ...

    @overload
    def on_webhook(self, *kinds: str, with_envelope: bool = False) -> Callable[[H], H]: ...

    def on_webhook(self, *kinds: Any, with_envelope: bool = False) -> Any:
        """Decorator: call the handler with each webhook event (``@on_webhook``), or only
        with events of ``kinds`` (``@on_webhook("message", "reaction")``; ``"custom"`` for
        :class:`CustomContent`). ``with_envelope=True`` calls ``handler(event, envelope)``
        with the :class:`WebhookEnvelope` (raw JSON, unknown fields)."""
        if len(kinds) == 1 and callable(kinds[0]):
            self._handlers.append(_Handler(None, kinds[0], with_envelope))
            return kinds[0]
        chosen = _check_kinds(kinds)

        def register(func: H) -> H:
            self._handlers.append(_Handler(chosen, func, with_envelope))
            return func

        return register

    @property
    def handlers(self) -> list[Callable[..., object]]:
        """The registered handlers, in order."""
        return [h.func for h in self._handlers]

    def _resolve_secret(self) -> str | Sequence[str] | None:
        secret = self._secret
        return secret() if callable(secret) else secret

    def _resolve_client(self) -> Client | None:
        from .._client import Client

        client = self._client
        if client is None or isinstance(client, Client):
            return client
        return client()

    def handle(self, body: bytes, headers: Headers, *,
               now: float | None = None) -> WebhookResponse:
        """Process one request; never raises for anything a request can contain."""
        if len(body) > self.max_body:
            return WebhookResponse(413, "body-too-large")
        secret = self._resolve_secret()
        if not secret:
            log.error("received a Spectrum webhook but no secret is configured (%s)",
                      WEBHOOK_SECRET)
            return WebhookResponse(500, "webhook secret not configured")
        try:
            verify(body, headers, secret, now=now)
            envelope = parse_envelope(body, client=self._resolve_client())
        except WebhookError as exc:
            if exc.status >= 500:
                log.error("webhook refused: %s", exc.message)
            else:
                log.warning("webhook refused (%d %s): %s", exc.status, exc.reason, exc.message)
            return WebhookResponse(exc.status, exc.reason)
        if not envelope.events:
            return WebhookResponse(200, "ok")
        return self.dispatch(envelope)

    def dispatch(self, envelope: WebhookEnvelope) -> WebhookResponse:
        """Deduplicate and run the handlers for a verified, parsed delivery: the id is
        claimed first (one atomic store operation), then the answer decided."""
        key = envelope.id
        if key:
            claim = self.dedupe.claim(key)
            if claim == Deduplicator.DONE:
                log.debug("webhook %s already handled", key)
                return WebhookResponse(200, "ok (duplicate)")
            if claim == Deduplicator.BUSY:
                # Another copy is being handled right now: have the sender come back later,
                # when it is either marked (then acknowledged) or failed (then run again).
                return WebhookResponse(409, "in progress")
        handled = False
        try:
            for event in envelope.events:
                for handler in list(self._handlers):
                    if handler.kinds is not None and event.kind not in handler.kinds:
                        continue
                    try:
                        if handler.with_envelope:
                            handler.func(event, envelope)
                        else:
                            handler.func(event)
                    except Exception:
                        log.exception("webhook handler %s failed on message %s",
                                      getattr(handler.func, "__qualname__", handler.func), key)
                        return WebhookResponse(500, "handler failed")
            handled = True
            return WebhookResponse(200, "ok")
        finally:
            if key and handled:
                self.dedupe.mark(key)
            elif key:
                self.dedupe.release(key)
