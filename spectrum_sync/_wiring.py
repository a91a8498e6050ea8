"""Wiring: the layers a ``Client`` is made of, built from its :class:`ClientConfig`.

:func:`wire` returns every part in one :class:`ClientParts` and sets nothing on the client:
the client keeps the parts and its lifecycle (docs/architecture.md, "Configuration"). Nothing
here touches the network or starts a thread, except opening chat.db in local mode (so that a
missing or unreadable database is a clear error at once).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Callable

from ._clock import SYSTEM, Clock
from ._config import DEFAULT_ADDRESS_TEMPLATE, DEFAULT_CLOUD_URL, DEFAULT_SHARED_ADDRESS, Line
from ._errors import ConfigurationError

if TYPE_CHECKING:
    import ssl

    from ._backend.base import Backend
    from ._config import ClientConfig
    from ._receive.receiving import Receiving
    from ._state.base import StateStore
    from ._state.monitor import StoreMonitor
    from ._transport.credentials import CloudAuth
    from ._transport.lines import LineSet, LineSpec
    from ._transport.token_exchange import Grant
    from ._users import UserDirectory

__all__ = ["ClientParts", "wire"]

log = logging.getLogger("spectrum_sync.client")


class ClientParts:
    """What a client is made of. ``mode_hint`` is how it was configured ("cloud",
    "explicit", "local"); ``project_id`` and ``cloud_url`` are set in cloud mode;
    ``ssl_context`` holds the roots of ``ca_file`` (also trusted by the token exchange).
    ``users`` and ``make_receiving`` are set by :func:`_wire_front`.

    A plain class, not an attrs one: it is made once per client, and its class creation
    would be a one-shot script's cost for nothing (bench/oneshot.py)."""

    __slots__ = ("auth", "backend", "cloud_url", "make_receiving", "mode_hint", "monitor",
                 "owns_store", "project_id", "ssl_context", "store", "users")

    users: UserDirectory
    make_receiving: Callable[[], Receiving]

    def __init__(self, *, backend: Backend, auth: CloudAuth | None, store: StateStore,
                 owns_store: bool, monitor: StoreMonitor, mode_hint: str,
                 project_id: str | None = None, cloud_url: str | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.backend = backend
        self.auth = auth
        self.store = store
        self.owns_store = owns_store
        self.monitor = monitor
        self.mode_hint = mode_hint
        self.project_id = project_id
        self.cloud_url = cloud_url
        self.ssl_context = ssl_context

    def __repr__(self) -> str:
        return f"ClientParts(mode_hint={self.mode_hint!r}, backend={self.backend!r})"


def wire(config: ClientConfig, is_closed: Callable[[], bool],
         clock: Clock | None = None) -> ClientParts:
    """The parts of a client: its backend (cloud, explicit lines or local), token refresher,
    state store, user directory and receive component (``client.space`` is the client's own,
    as it refers to the client). ``is_closed`` tells
    the call wrapper that the client was closed; ``clock`` is what token lifetimes follow
    (a test clock, docs/architecture.md "Time in tests"; other waits stay on real time)."""
    if config.receive is not None:
        # Imported only to check a given value: a client that only sends never loads it.
        from ._receive.options import ReceiveOptions

        if not isinstance(config.receive, ReceiveOptions):
            raise ConfigurationError(
                f"receive= takes a ReceiveOptions, not {type(config.receive).__name__}")
    parts = (_wire_local(config) if config.local
             else _wire_cloud(config, is_closed, clock or SYSTEM))
    _wire_front(parts, config)
    return parts


def _wire_cloud(config: ClientConfig, is_closed: Callable[[], bool],
                clock: Clock) -> ClientParts:
    from ._backend.cloud import CloudBackend
    from ._backend.quotas import QuotaTracker
    from ._backend.routing import Routing
    from ._state import open_store
    from ._state.monitor import StoreMonitor
    from ._transport.channels import ChannelFactory
    from ._transport.invoker import Invoker
    from ._transport.lines import LineSet

    roots = _root_certificates(config)
    # The same roots are trusted for the token exchange over https.
    ssl_context: ssl.SSLContext | None = None
    if roots is not None:
        import ssl

        try:
            ssl_context = ssl.create_default_context(cadata=roots.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigurationError(f"the CA file is not valid PEM: {exc}") from None
    line_set = LineSet(ChannelFactory(root_certificates=roots))
    auth: CloudAuth | None = None
    project_id = cloud_url = None
    if config.lines is not None:
        _set_explicit_lines(line_set, config)
        mode_hint = "explicit"
    else:
        auth, project_id, cloud_url = _cloud_auth(line_set, config, ssl_context, clock)
        mode_hint = "cloud"
    # Keys of a shared store (Redis) are prefixed per project, so that projects can share
    # one server; explicit relay lines share the "relay" namespace.
    store, owns_store = open_store(config.state, namespace=project_id or "relay")
    monitor = StoreMonitor()
    invoker = Invoker(auth, config.retry, config.timeout, is_closed=is_closed)
    quotas = QuotaTracker(store, config.quota_limits, monitor)
    backend = CloudBackend(line_set, invoker, Routing(store, monitor), quotas, monitor, auth)
    return ClientParts(backend=backend, auth=auth, store=store, owns_store=owns_store,
                       monitor=monitor, mode_hint=mode_hint, project_id=project_id,
                       cloud_url=cloud_url, ssl_context=ssl_context)


def _wire_local(config: ClientConfig) -> ClientParts:
    from ._backend.local import LocalBackend
    from ._state import open_store
    from ._state.monitor import StoreMonitor

    if config.given:
        raise ConfigurationError(
            f"{', '.join(name + '=' for name in sorted(config.given))} apply to cloud mode, "
            "not to local=True (the Mac's own Messages account)")
    chat_db = config.chat_db
    if chat_db is not None and not isinstance(chat_db, (str, os.PathLike)):
        raise ConfigurationError(f"chat_db= takes a path, not {type(chat_db).__name__}")
    backend = LocalBackend(chat_db, config.timeout)  # opens chat.db: clear errors now
    try:
        store, owns_store = open_store(config.state, namespace="local")
    except BaseException:
        backend.close()
        raise
    return ClientParts(backend=backend, auth=None, store=store, owns_store=owns_store,
                       monitor=StoreMonitor(), mode_hint="local")


def _wire_front(parts: ClientParts, config: ClientConfig) -> None:
    """The parts every mode shares, above the backend. The receive component is only
    described (``make_receiving``): a process that only sends never imports it."""
    from ._users import UserDirectory

    backend, store, monitor = parts.backend, parts.store, parts.monitor
    parts.users = UserDirectory(backend.address_info,
                                default_region=config.default_region.upper(),
                                ttl=config.user_cache_ttl, maxsize=config.user_cache_size)
    options, timeout = config.receive, config.timeout

    def make_receiving() -> Receiving:
        from ._receive.options import ReceiveOptions
        from ._receive.receiving import Receiving

        return Receiving(backend, store, options or ReceiveOptions(), monitor, timeout)

    parts.make_receiving = make_receiving


def _root_certificates(config: ClientConfig) -> bytes | None:
    path = config.text("ca_file")
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the CA file {path!r} (ca_file= / {config.env_name('ca_file')}): "
            f"{exc.strerror}") from None


def _set_explicit_lines(line_set: LineSet, config: ClientConfig) -> None:
    from ._transport.lines import LineSpec

    if config.project_id is not None or config.project_secret is not None:
        raise ConfigurationError(
            "pass either lines= (self-hosted relays) or project_id=/project_secret=, not both")
    if any(value is not None
           for value in (config.cloud_url, config.address, config.address_template)):
        raise ConfigurationError(
            "cloud_url=, address= and address_template= apply to cloud mode, not to lines=")
    lines = config.lines
    if isinstance(lines, (str, bytes, Line)) or not isinstance(lines, Iterable):
        raise ConfigurationError("lines= takes a list of Line objects")
    explicit = list(lines)
    if not explicit:
        raise ConfigurationError("lines= is empty: give at least one Line(address, token, phone)")
    phones: set[str] = set()
    for line in explicit:
        if not isinstance(line, Line):
            raise ConfigurationError(f"lines= takes Line objects, not {type(line).__name__}")
        if not all(isinstance(v, str) and v for v in (line.address, line.token, line.phone)):
            raise ConfigurationError("every Line needs an address, a token and a phone")
        if line.phone in phones:
            raise ConfigurationError(f"two lines have the phone number {line.phone}")
        phones.add(line.phone)
    line_set.reconcile(
        LineSpec(key=ln.phone, phone=ln.phone, address=ln.address, tls=bool(ln.tls),
                 token=ln.token)
        for ln in explicit)


def _cloud_auth(line_set: LineSet, config: ClientConfig, ssl_context: ssl.SSLContext | None,
                clock: Clock) -> tuple[CloudAuth, str, str]:
    """The token refresher of cloud mode, which keeps ``line_set`` in step with each grant,
    on ``clock``; with the project id and the cloud URL."""
    from ._transport.credentials import CloudAuth
    from ._transport.lines import SHARED, LineSpec
    from ._transport.token_exchange import exchange_token, validate_cloud_url

    pid = config.text("project_id")
    secret = config.text("project_secret")
    missing = [config.label(k) for k, v in (("project_id", pid), ("project_secret", secret))
               if not v]
    if missing:
        raise ConfigurationError(
            "missing Spectrum credentials: set " + " and ".join(missing)
            + " (or pass lines=[Line(...)] for self-hosted relays)")
    assert pid is not None and secret is not None
    url = validate_cloud_url(config.text("cloud_url") or DEFAULT_CLOUD_URL)
    shared_address = config.text("address") or DEFAULT_SHARED_ADDRESS
    template = config.text("address_template") or DEFAULT_ADDRESS_TEMPLATE
    tls = config.flag("tls", default=True)

    def specs(grant: Grant) -> list[LineSpec]:
        if grant.kind == "shared":
            return [LineSpec(SHARED, SHARED, shared_address, tls, grant.tokens["shared"])]
        result = []
        for instance, token in grant.tokens.items():
            phone = grant.numbers.get(instance)
            if not phone:
                log.warning("line instance %s has no phone number yet; skipped", instance)
                continue
            target = template.replace("{instanceId}", instance)
            result.append(LineSpec(instance, phone, target, tls, token))
        return result

    def apply(grant: Grant) -> None:
        line_set.reconcile(specs(grant))

    auth = CloudAuth(
        lambda timeout: exchange_token(url, pid, secret, timeout, ssl_context, clock),
        apply, timeout=config.timeout, clock=clock)
    return auth, pid, url
