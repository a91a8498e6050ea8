"""``Client``: configuration, wiring of the layers, lifecycle.

Nothing here touches the network or starts a thread in the constructor: the
first call exchanges the credentials, opens the line's channels and starts
the ``spectrum-refresh`` thread. ``close()`` (also via ``with`` and at
interpreter exit) stops and joins it and closes the channels. After
``os.fork()`` the child drops the parent's channels and thread state and
rebuilds them lazily; the parent keeps working.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

    from .receive import ReceiveOptions

from .auth import DEFAULT_CLOUD_URL, CloudAuth, Grant, exchange_token
from .backend import CloudBackend
from .errors import ConfigurationError, RoutingError
from .lines import SHARED, Line, LineSet, LineSpec, Routing
from .models import User
from .quotas import QuotaLimits, QuotaTracker, QuotaUsage
from .receiving import ReceiveMixin
from .spaces import SpaceAPI
from .state import StateStore, open_store
from .transport import DEFAULT_TIMEOUT, ChannelFactory, Invoker, RetryPolicy
from .users import CacheStats, UserDirectory

__all__ = ["Client"]

log = logging.getLogger("spectrum_sync.client")

DEFAULT_SHARED_ADDRESS = "imessage.spectrum.photon.codes:443"
DEFAULT_ADDRESS_TEMPLATE = "{instanceId}.imsg.photon.codes:443"

_ENV_ID = "SPECTRUM_PROJECT_ID"
_ENV_SECRET = "SPECTRUM_PROJECT_SECRET"
_ENV_CLOUD = "SPECTRUM_CLOUD_URL"
_ENV_ADDRESS = "SPECTRUM_IMESSAGE_ADDRESS"
_ENV_TEMPLATE = "SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"
_ENV_TLS = "SPECTRUM_IMESSAGE_TLS"
_ENV_CA = "SPECTRUM_TLS_CA_FILE"

_live_clients: weakref.WeakSet[Client] = weakref.WeakSet()


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean: use 'true' or 'false'")


def _pick(arg: str | None, env: Mapping[str, str], name: str) -> str | None:
    if arg is not None:
        return arg
    value = env.get(name)
    return value if value else None


class Client(ReceiveMixin):
    """A synchronous client for Spectrum's iMessage platform.

    Cloud mode: ``Client(project_id=..., project_secret=...)`` or the env vars
    ``SPECTRUM_PROJECT_ID`` / ``SPECTRUM_PROJECT_SECRET``. Optional:
    ``cloud_url`` (``SPECTRUM_CLOUD_URL``), ``address`` for the shared gRPC
    endpoint (``SPECTRUM_IMESSAGE_ADDRESS``), ``address_template`` for dedicated
    lines, with ``{instanceId}`` (``SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE``),
    ``tls`` (``SPECTRUM_IMESSAGE_TLS``, default on) and ``ca_file``
    (``SPECTRUM_TLS_CA_FILE``, PEM roots to trust instead of the system ones).

    Self-hosted relays: ``Client(lines=[Line(address, token, phone)])``.

    ``timeout`` is the default deadline of every call (seconds); each public
    call also takes ``timeout=``. ``retry`` tunes the retry of calls the server
    marks retryable; ``default_region`` is used to parse national phone numbers;
    ``quota_limits`` sets the daily limits checked before sending; ``state`` is
    where routing, quota counters and receive cursors live (default: in memory;
    ``"sqlite:///state.db"`` or a :class:`SQLiteStore` persist them, so that
    receiving resumes across restarts); ``receive`` tunes receiving
    (:class:`~spectrum_sync.receive.ReceiveOptions`); ``env`` replaces
    ``os.environ`` as the source of the variables above. The client is
    thread-safe and fork-safe.
    """

    def __init__(
        self,
        project_id: str | None = None,
        project_secret: str | None = None,
        *,
        lines: Iterable[Line] | None = None,
        cloud_url: str | None = None,
        address: str | None = None,
        address_template: str | None = None,
        tls: bool | None = None,
        ca_file: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        default_region: str = "US",
        user_cache_ttl: float = 3600.0,
        user_cache_size: int = 10_000,
        quota_limits: QuotaLimits | None = None,
        state: StateStore | str | None = None,
        receive: ReceiveOptions | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        environ: Mapping[str, str] = os.environ if env is None else env
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ConfigurationError(
                f"timeout must be a positive number of seconds, not {timeout!r}"
            )
        self.timeout = float(timeout)
        self._closed = False
        self._close_lock = threading.Lock()
        self._receive_options = receive  # None: the defaults, built when receiving starts
        self.state: StateStore
        self.state, self._owns_state = open_store(state)

        roots = self._root_certificates(ca_file, environ)
        # The same roots are trusted for the token exchange over https.
        self._ssl_context: ssl.SSLContext | None = None  # only a CA file needs ssl here
        if roots is not None:
            try:
                import ssl  # imported lazily: it costs milliseconds at import time

                self._ssl_context = ssl.create_default_context(cadata=roots.decode("ascii"))
            except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
                raise ConfigurationError(f"the CA file is not valid PEM: {exc}") from None
        factory = ChannelFactory(root_certificates=roots)
        self._lines = LineSet(factory)
        self._auth: CloudAuth | None = None
        if lines is not None:
            explicit = list(lines)
            self._check_explicit(
                explicit, project_id, project_secret, cloud_url, address, address_template
            )
            self.mode_hint = "explicit"
            self._lines.reconcile(
                LineSpec(
                    key=ln.phone, phone=ln.phone, address=ln.address, tls=ln.tls, token=ln.token
                )
                for ln in explicit
            )
        else:
            self.mode_hint = "cloud"
            self._setup_cloud(
                project_id, project_secret, cloud_url, address, address_template, tls, environ
            )

        invoker = Invoker(self._auth, retry or RetryPolicy(), self.timeout)
        self._quotas = QuotaTracker(self.state, quota_limits or QuotaLimits())
        self._backend = CloudBackend(
            self._lines, invoker, Routing(self.state), self._quotas, self._auth
        )
        self._users = UserDirectory(
            self._backend.address_info,
            default_region=default_region,
            ttl=user_cache_ttl,
            maxsize=user_cache_size,
        )
        self.space = SpaceAPI(lambda: self._backend, self._normalize)
        _live_clients.add(self)

    # ----- configuration ----------------------------------------------------

    @staticmethod
    def _root_certificates(ca_file: str | None, env: Mapping[str, str]) -> bytes | None:
        path = _pick(ca_file, env, _ENV_CA)
        if path is None:
            return None
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the CA file {path!r} (ca_file= / {_ENV_CA}): {exc.strerror}"
            ) from None

    @staticmethod
    def _check_explicit(
        lines: list[Line],
        project_id: str | None,
        project_secret: str | None,
        *cloud_only: str | None,
    ) -> None:
        if project_id is not None or project_secret is not None:
            raise ConfigurationError(
                "pass either lines= (self-hosted relays) or project_id=/project_secret=, not both"
            )
        if any(value is not None for value in cloud_only):
            raise ConfigurationError(
                "cloud_url=, address= and address_template= apply to cloud mode, not to lines="
            )
        if not lines:
            raise ConfigurationError(
                "lines= is empty: give at least one Line(address, token, phone)"
            )
        phones: set[str] = set()
        for line in lines:
            if not isinstance(line, Line):
                raise ConfigurationError(f"lines= takes Line objects, not {type(line).__name__}")
            if not line.address or not line.token or not line.phone:
                raise ConfigurationError("every Line needs an address, a token and a phone")
            if line.phone in phones:
                raise ConfigurationError(f"two lines have the phone number {line.phone}")
            phones.add(line.phone)

    def _setup_cloud(
        self,
        project_id: str | None,
        project_secret: str | None,
        cloud_url: str | None,
        address: str | None,
        address_template: str | None,
        tls: bool | None,
        env: Mapping[str, str],
    ) -> None:
        pid = _pick(project_id, env, _ENV_ID)
        secret = _pick(project_secret, env, _ENV_SECRET)
        missing = [
            n
            for n, v in (
                (f"project_id= or {_ENV_ID}", pid),
                (f"project_secret= or {_ENV_SECRET}", secret),
            )
            if not v
        ]
        if missing:
            raise ConfigurationError(
                "missing Spectrum credentials: set "
                + " and ".join(missing)
                + " (or pass lines=[Line(...)] for self-hosted relays)"
            )
        assert pid is not None and secret is not None
        url = _pick(cloud_url, env, _ENV_CLOUD) or DEFAULT_CLOUD_URL
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"cloud URL {url!r} must start with http:// or https://")
        shared_address = _pick(address, env, _ENV_ADDRESS) or DEFAULT_SHARED_ADDRESS
        template = _pick(address_template, env, _ENV_TEMPLATE) or DEFAULT_ADDRESS_TEMPLATE
        if tls is None:
            tls_env = env.get(_ENV_TLS)
            tls = True if not tls_env else _parse_bool(_ENV_TLS, tls_env)
        self.project_id = pid
        self.cloud_url = url
        use_tls = bool(tls)

        def specs(grant: Grant) -> list[LineSpec]:
            if grant.kind == "shared":
                return [LineSpec(SHARED, SHARED, shared_address, use_tls, grant.tokens["shared"])]
            result = []
            for instance, token in grant.tokens.items():
                phone = grant.numbers.get(instance)
                if not phone:
                    log.warning("line instance %s has no phone number yet; skipped", instance)
                    continue
                target = template.replace("{instanceId}", instance)
                result.append(LineSpec(instance, phone, target, use_tls, token))
            return result

        def on_grant(grant: Grant) -> None:
            self._lines.reconcile(specs(grant))

        self._auth = CloudAuth(
            lambda timeout: exchange_token(url, pid, secret, timeout, self._ssl_context),
            on_grant,
            timeout=self.timeout,
        )

    @classmethod
    def connect_emulator(cls, emulator: Any, **kwargs: Any) -> Client:
        """A client bound to a running :class:`spectrum_sync.emulator.Emulator`
        (its ``env()``: cloud URL, addresses, credentials, TLS settings)."""
        env = dict(emulator.env())
        settings: dict[str, Any] = {
            "project_id": env.get(_ENV_ID),
            "project_secret": env.get(_ENV_SECRET),
            "cloud_url": env.get(_ENV_CLOUD),
            "address": env.get(_ENV_ADDRESS),
            "address_template": env.get(_ENV_TEMPLATE),
            "tls": _parse_bool(_ENV_TLS, env.get(_ENV_TLS) or "false"),
            "ca_file": env.get(_ENV_CA),
        }
        settings.update(kwargs)
        return cls(**settings)

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.mode_hint
        return f"Client({state}, lines={self._lines.phones})"

    # ----- public API -------------------------------------------------------

    def _normalize(self, address: str) -> User:
        return self._users.user(address, resolve=False)

    @property
    def mode(self) -> str:
        """ "shared", "dedicated" (from the token grant) or "explicit" (lines=)."""
        return self._backend.mode

    @property
    def phones(self) -> list[str]:
        """The phone numbers of the current lines ("shared" in shared mode)."""
        self._backend.ready()
        return self._lines.phones

    def user(self, address: str, resolve: bool = True, *, timeout: float | None = None) -> User:
        """A :class:`User` for a phone number or e-mail address.

        The address is normalised (E.164 / lower-case e-mail; otherwise
        :class:`~spectrum_sync.errors.InvalidAddress` before any network call),
        then resolved with GetAddressInfo (service, country) unless
        ``resolve=False``. Results are cached."""
        return self._users.user(address, resolve, timeout)

    def user_cache_stats(self) -> CacheStats:
        """Hits, misses and size of the user cache."""
        return self._users.stats()

    def quota(self, phone: str | None = None, *, timeout: float | None = None) -> QuotaUsage:
        """Today's usage (UTC day) of a line; ``phone`` may be omitted with one line."""
        self._backend.ready(timeout)
        if phone is None:
            only = self._lines.only()
            if only is None:
                raise RoutingError("several lines: pass phone= to quota()", self._lines.phones)
            phone = only.phone
        return self._quotas.usage(self._lines.get(phone).phone)

    def refresh_credentials(self) -> bool:
        """Re-exchange the token now (rate-limited) and reconcile the lines.

        Returns False when the rate limit skipped the exchange or in explicit mode."""
        if self._auth is None:
            return False
        return self._auth.refresh(force=True)

    # ----- lifecycle --------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stop the refresher, close the channels (idempotent)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._close_receiving(min(timeout, 2.0))
        if self._auth is not None:
            self._auth.close(timeout)
        self._backend.close()
        if self._owns_state:
            self.state.close()
        _live_clients.discard(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _after_fork_in_child(self) -> None:
        self._close_lock = threading.Lock()
        if self._auth is not None:
            self._auth.after_fork_in_child()
        self._lines.after_fork_in_child()
        self._users.after_fork_in_child()
        self._receiving_after_fork()


def _close_all_at_exit() -> None:
    for client in list(_live_clients):
        try:
            client.close(timeout=1.0)
        except Exception:  # interpreter shutdown: best effort
            log.debug("error closing a client at exit", exc_info=True)


def _reset_after_fork() -> None:
    for client in list(_live_clients):
        client._after_fork_in_child()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
