"""``Client``: configuration, wiring of the layers, lifecycle (docs/architecture.md).

Importing this module is cheap: the layers are imported when a client is made. Nothing in the
constructor touches the network or starts a thread: the first call exchanges the credentials,
opens the line's channels and starts the ``spectrum-refresh`` thread. ``close()`` (also via
``with``, at interpreter exit, and when a forgotten client is garbage-collected, with a
``ResourceWarning`` as files do) stops the threads and closes the channels. After
``os.fork()`` every component rebuilds its own resources on first use in the child.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ._errors import ConfigurationError

if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterator

    from ._backend.base import Backend
    from ._backend.quotas import QuotaLimits, QuotaUsage
    from ._doctor import CheckResult
    from ._events import Event
    from ._models import (
        FocusStatus,
        FriendLocation,
        LineInfo,
        LocationRequest,
        Message,
        Space,
        User,
    )
    from ._receive.dispatch import ErrorHandler, Handle
    from ._receive.health import LineHealth
    from ._receive.inbox import Inbox
    from ._receive.options import ReceiveOptions
    from ._receive.receiving import Receiving
    from ._spaces import SpaceAPI
    from ._state.base import StateStore
    from ._state.monitor import StoreMonitor
    from ._transport.credentials import CloudAuth
    from ._transport.invoker import RetryPolicy
    from ._transport.lines import Line, LineSet
    from ._transport.token_exchange import Grant
    from ._users import CacheStats, UserDirectory

__all__ = ["Client"]

log = logging.getLogger("spectrum_sync.client")

DEFAULT_CLOUD_URL = "https://spectrum.photon.codes"
DEFAULT_SHARED_ADDRESS = "imessage.spectrum.photon.codes:443"
DEFAULT_ADDRESS_TEMPLATE = "{instanceId}.imsg.photon.codes:443"

_ENV_ID = "SPECTRUM_PROJECT_ID"
_ENV_SECRET = "SPECTRUM_PROJECT_SECRET"
_ENV_CLOUD = "SPECTRUM_CLOUD_URL"
_ENV_ADDRESS = "SPECTRUM_IMESSAGE_ADDRESS"
_ENV_TEMPLATE = "SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"
_ENV_TLS = "SPECTRUM_IMESSAGE_TLS"
_ENV_CA = "SPECTRUM_TLS_CA_FILE"

H = TypeVar("H", bound=Callable[..., object])


def _pick(name: str, arg: object, env: Mapping[str, str], env_name: str) -> str | None:
    if arg is not None:
        if not isinstance(arg, str):
            raise ConfigurationError(f"{name} must be a string, not {type(arg).__name__}")
        return arg or None
    value = env.get(env_name)
    return value if value else None


class _Parts:
    """What a mode builds for the client: its backend, token refresher and state store."""

    def __init__(self, backend: Backend, auth: CloudAuth | None, store: StateStore,
                 owns_store: bool, monitor: StoreMonitor) -> None:
        self.backend = backend
        self.auth = auth
        self.store = store
        self.owns_store = owns_store
        self.monitor = monitor


class _Resources:
    """What a client must release; closed once, by ``close()``, at exit or by the GC.

    Kept apart from the :class:`Client` object (and never referring to it), so that a client
    nobody holds any more can be collected, and closed, although its threads still run.

    The receive component is made on first use (``make_receiving``): a process that only
    sends never imports the receive machinery."""

    def __init__(self, parts: _Parts, make_receiving: Callable[[], Receiving]) -> None:
        self.parts = parts
        self._make_receiving = make_receiving
        self._receiving: Receiving | None = None
        self._lock = threading.Lock()
        self._closed = False

    def receiving(self) -> Receiving:
        found = self._receiving
        if found is None:
            with self._lock:
                if self._receiving is None:
                    self._receiving = self._make_receiving()
                    if self._closed:  # refuses consumers, as it would have after close()
                        self._receiving.close(0.0)
                found = self._receiving
        return found

    def close(self, timeout: float) -> None:
        # One budget for the whole close: the parts share what is left of it.
        deadline = time.monotonic() + timeout
        parts = self.parts
        with self._lock:
            self._closed = True
            receiving = self._receiving
        if receiving is not None:
            receiving.close(min(timeout, 2.0))
        if parts.auth is not None:
            parts.auth.close(max(0.0, deadline - time.monotonic()))
        parts.backend.close()
        if parts.owns_store:
            try:
                parts.store.close()
            except Exception:
                log.warning("closing the state store failed", exc_info=True)


_open_resources: weakref.WeakSet[_Resources] = weakref.WeakSet()


class _CloseRequest:
    """How the resources are being closed: by ``close(timeout)``, or by the GC; and where
    the client was made, for the GC's warning."""

    def __init__(self) -> None:
        self.explicit = False
        self.timeout = 1.0
        self.made_at = _user_code_line()


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Per file, as ``__warningregistry__`` is per module: "default" warns once per line.
_warning_registries: dict[str, dict[Any, Any]] = {}


def _user_code_line() -> tuple[str, int]:
    """The file and line outside this package that is making the client (``emu.client()``,
    ``Client.connect_emulator()`` and the integrations are this package's own frames)."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    return frame.f_code.co_filename, frame.f_lineno


def _finalize(resources: _Resources, request: _CloseRequest) -> None:
    _open_resources.discard(resources)
    if request.explicit:
        resources.close(request.timeout)
        return
    # Reported at the line that made the client (the GC may run anywhere), as files are
    # with tracemalloc on: that is the line to fix.
    filename, lineno = request.made_at
    warnings.warn_explicit(
        "a spectrum_sync.Client made here was not closed: call client.close() or use "
        "'with Client(...) as client'", ResourceWarning, filename, lineno,
        registry=_warning_registries.setdefault(filename, {}))
    # The garbage collector may run this in any thread, even one holding a lock that
    # closing needs: close from a thread of its own.
    threading.Thread(target=resources.close, args=(request.timeout,),
                     name="spectrum-close", daemon=True).start()


class Client:
    """A synchronous client for Spectrum's iMessage platform.

    Cloud mode: ``Client(project_id=..., project_secret=...)`` or the environment variables
    ``SPECTRUM_PROJECT_ID`` / ``SPECTRUM_PROJECT_SECRET``. Optional: ``cloud_url``
    (``SPECTRUM_CLOUD_URL``), ``address`` of the shared gRPC endpoint
    (``SPECTRUM_IMESSAGE_ADDRESS``), ``address_template`` for dedicated lines, with
    ``{instanceId}`` (``SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE``), ``tls``
    (``SPECTRUM_IMESSAGE_TLS``, default on) and ``ca_file`` (``SPECTRUM_TLS_CA_FILE``: PEM
    roots to trust instead of the system's).

    Self-hosted relays: ``Client(lines=[Line(address, token, phone)])``.

    Local Mac mode: ``Client(local=True)`` uses the Mac's own Messages account (reads
    ``~/Library/Messages/chat.db``, sends through ``osascript``); ``chat_db=`` names another
    chat.db. See docs/behaviour.md, "Local mode", for what it can and cannot do.

    ``timeout`` is the default deadline of every call (seconds); each call also takes
    ``timeout=``. ``retry`` tunes the retry of calls the server marks retryable;
    ``default_region`` parses national phone numbers; ``quota_limits`` sets the daily limits
    checked before sending; ``state`` is where routing, quota counters and receive cursors
    live (default: memory; ``"sqlite:///state.db"`` persists them, so receiving resumes
    across restarts); ``receive`` tunes receiving (:class:`ReceiveOptions`); ``env``
    replaces ``os.environ`` as the source of the variables above.

    One client is meant to be shared by all the threads of a process (every method is
    thread-safe), and survives ``fork()`` (gunicorn ``--preload``, uWSGI, Celery prefork).
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
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        default_region: str = "US",
        user_cache_ttl: float = 3600.0,
        user_cache_size: int = 10_000,
        quota_limits: QuotaLimits | None = None,
        state: StateStore | str | None = None,
        receive: ReceiveOptions | None = None,
        env: Mapping[str, str] | None = None,
        local: bool = False,
        chat_db: str | os.PathLike[str] | None = None,
    ) -> None:
        from ._validate import check_config_timeout

        environ: Mapping[str, str] = os.environ if env is None else env
        self.timeout = check_config_timeout("timeout", timeout)
        self._check_types(retry, quota_limits, receive, default_region, user_cache_ttl,
                          user_cache_size, tls)
        self._close_lock = threading.Lock()
        self._closed = False
        self.project_id: str | None = None
        self.cloud_url: str | None = None
        self._closed_flag = [False]
        if local or chat_db is not None:
            if local is not True:
                raise ConfigurationError(
                    "chat_db= applies to local mode: pass local=True as well")
            parts = self._build_local(chat_db, state, {
                "project_id": project_id, "project_secret": project_secret, "lines": lines,
                "cloud_url": cloud_url, "address": address,
                "address_template": address_template, "tls": tls, "ca_file": ca_file,
                "retry": retry, "quota_limits": quota_limits})
        else:
            parts = self._build_cloud(project_id, project_secret, lines, cloud_url, address,
                                      address_template, tls, ca_file, retry, quota_limits,
                                      state, environ)
        self._assemble(parts, default_region, user_cache_ttl, user_cache_size, receive)

    @staticmethod
    def _check_types(retry: object, quota_limits: object, receive: object, region: object,
                     cache_ttl: object, cache_size: object, tls: object) -> None:
        from ._backend.quotas import QuotaLimits
        from ._receive.options import ReceiveOptions
        from ._transport.invoker import RetryPolicy
        from ._validate import positive_number

        for name, value, cls in (("retry", retry, RetryPolicy),
                                 ("quota_limits", quota_limits, QuotaLimits),
                                 ("receive", receive, ReceiveOptions)):
            if value is not None and not isinstance(value, cls):
                raise ConfigurationError(
                    f"{name}= takes a {cls.__name__}, not {type(value).__name__}")
        if not isinstance(region, str) or len(region) != 2 or not region.isalpha():
            raise ConfigurationError(
                f"default_region must be a two-letter region code such as 'US', not {region!r}")
        positive_number("user_cache_ttl", cache_ttl)
        positive_number("user_cache_size", cache_size, integer=True)
        if tls is not None and not isinstance(tls, bool):
            raise ConfigurationError(f"tls must be True, False or None, not {tls!r}")

    def _build_cloud(
        self, project_id: str | None, project_secret: str | None, lines: Iterable[Line] | None,
        cloud_url: str | None, address: str | None, address_template: str | None,
        tls: bool | None, ca_file: str | None, retry: RetryPolicy | None,
        quota_limits: QuotaLimits | None, state: StateStore | str | None,
        environ: Mapping[str, str],
    ) -> _Parts:
        from ._backend.cloud import CloudBackend
        from ._backend.quotas import QuotaLimits, QuotaTracker
        from ._backend.routing import Routing
        from ._state import open_store
        from ._state.monitor import StoreMonitor
        from ._transport.channels import ChannelFactory
        from ._transport.invoker import Invoker, RetryPolicy
        from ._transport.lines import LineSet

        roots = self._root_certificates(ca_file, environ)
        # The same roots are trusted for the token exchange over https.
        self._ssl_context: ssl.SSLContext | None = None
        if roots is not None:
            import ssl

            try:
                self._ssl_context = ssl.create_default_context(cadata=roots.decode("ascii"))
            except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
                raise ConfigurationError(f"the CA file is not valid PEM: {exc}") from None
        line_set = LineSet(ChannelFactory(root_certificates=roots))
        auth: CloudAuth | None = None
        if lines is not None:
            self._setup_explicit(line_set, lines, project_id, project_secret, cloud_url,
                                 address, address_template)
        else:
            auth = self._setup_cloud(line_set, project_id, project_secret, cloud_url,
                                     address, address_template, tls, environ)
        # Keys of a shared store (Redis) are prefixed per project, so that projects can
        # share one server; explicit relay lines share the "relay" namespace.
        store, owns_store = open_store(state, namespace=self.project_id or "relay")
        monitor = StoreMonitor()
        closed = self._closed_flag
        invoker = Invoker(auth, retry or RetryPolicy(), self.timeout,
                          is_closed=lambda: closed[0])
        quotas = QuotaTracker(store, quota_limits or QuotaLimits(), monitor)
        backend = CloudBackend(line_set, invoker, Routing(store, monitor), quotas, monitor,
                               auth)
        return _Parts(backend, auth, store, owns_store, monitor)

    def _build_local(self, chat_db: str | os.PathLike[str] | None,
                     state: StateStore | str | None, cloud_only: Mapping[str, object]) -> _Parts:
        from ._backend.local import LocalBackend
        from ._state import open_store
        from ._state.monitor import StoreMonitor

        given = sorted(name for name, value in cloud_only.items() if value is not None)
        if given:
            raise ConfigurationError(
                f"{', '.join(name + '=' for name in given)} apply to cloud mode, not to "
                "local=True (the Mac's own Messages account)")
        if chat_db is not None and not isinstance(chat_db, (str, os.PathLike)):
            raise ConfigurationError(
                f"chat_db= takes a path, not {type(chat_db).__name__}")
        self.mode_hint = "local"
        backend = LocalBackend(chat_db, self.timeout)  # opens chat.db: clear errors now
        try:
            store, owns_store = open_store(state, namespace="local")
        except BaseException:
            backend.close()
            raise
        return _Parts(backend, None, store, owns_store, StoreMonitor())

    def _assemble(self, parts: _Parts, default_region: str, user_cache_ttl: float,
                  user_cache_size: int, receive: ReceiveOptions | None) -> None:
        from ._spaces import SpaceAPI
        from ._users import UserDirectory

        backend, store = parts.backend, parts.store
        timeout = self.timeout

        def make_receiving() -> Receiving:
            from ._receive.options import ReceiveOptions
            from ._receive.receiving import Receiving

            return Receiving(backend, store, receive or ReceiveOptions(), parts.monitor,
                             timeout)

        self._backend = backend
        self._auth = parts.auth  # read by the doctor's checks (token state, clock skew)
        self._store = store
        self._users: UserDirectory = UserDirectory(
            backend.address_info, default_region=default_region.upper(), ttl=user_cache_ttl,
            maxsize=user_cache_size)
        resources = self._resources = _Resources(parts, make_receiving)
        self.space: SpaceAPI = SpaceAPI(lambda: backend, self._normalize)
        backend.set_owner(self)
        self._watch_metrics(parts)
        self._close_request = _CloseRequest()
        self._finalizer = weakref.finalize(self, _finalize, resources, self._close_request)
        self._finalizer.atexit = False  # our own exit hook closes quietly
        _open_resources.add(resources)

    def _watch_metrics(self, parts: _Parts) -> None:
        """Report this client in the OpenTelemetry metrics while it lives (no-op without
        the package)."""
        from ._telemetry import ClientView, watch

        backend, auth, monitor = parts.backend, parts.auth, parts.monitor
        resources = self._resources
        self._telemetry_view = ClientView(
            health=lambda: resources.receiving().health(),
            quota=lambda phone: backend.quota_usage(phone, 2.0),
            phones=lambda: [info.phone for info in backend.line_infos()],
            store_failures=lambda: monitor.failures,
            token_failures=lambda: auth.failures if auth is not None else 0,
        )
        watch(self._telemetry_view)

    # ----- configuration --------------------------------------------------------------

    @staticmethod
    def _root_certificates(ca_file: str | None, env: Mapping[str, str]) -> bytes | None:
        path = _pick("ca_file", ca_file, env, _ENV_CA)
        if path is None:
            return None
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the CA file {path!r} (ca_file= / {_ENV_CA}): {exc.strerror}"
            ) from None

    def _setup_explicit(self, line_set: LineSet, lines: Iterable[Line], project_id: object,
                        project_secret: object, *cloud_only: object) -> None:
        from ._transport.lines import Line, LineSpec

        if project_id is not None or project_secret is not None:
            raise ConfigurationError(
                "pass either lines= (self-hosted relays) or project_id=/project_secret=, "
                "not both")
        if any(value is not None for value in cloud_only):
            raise ConfigurationError(
                "cloud_url=, address= and address_template= apply to cloud mode, not to lines=")
        if isinstance(lines, (str, bytes, Line)) or not isinstance(lines, Iterable):
            raise ConfigurationError("lines= takes a list of Line objects")
        explicit = list(lines)
        if not explicit:
            raise ConfigurationError(
                "lines= is empty: give at least one Line(address, token, phone)")
        phones: set[str] = set()
        for line in explicit:
            if not isinstance(line, Line):
                raise ConfigurationError(
                    f"lines= takes Line objects, not {type(line).__name__}")
            if not all(isinstance(v, str) and v for v in (line.address, line.token,
                                                          line.phone)):
                raise ConfigurationError("every Line needs an address, a token and a phone")
            if line.phone in phones:
                raise ConfigurationError(f"two lines have the phone number {line.phone}")
            phones.add(line.phone)
        self.mode_hint = "explicit"
        line_set.reconcile(
            LineSpec(key=ln.phone, phone=ln.phone, address=ln.address, tls=bool(ln.tls),
                     token=ln.token)
            for ln in explicit)

    def _setup_cloud(self, line_set: LineSet, project_id: str | None,
                     project_secret: str | None, cloud_url: str | None, address: str | None,
                     address_template: str | None, tls: bool | None,
                     env: Mapping[str, str]) -> CloudAuth:
        from ._transport.credentials import CloudAuth
        from ._transport.lines import SHARED, LineSpec
        from ._transport.token_exchange import exchange_token, validate_cloud_url
        from ._validate import parse_bool

        pid = _pick("project_id", project_id, env, _ENV_ID)
        secret = _pick("project_secret", project_secret, env, _ENV_SECRET)
        missing = [n for n, v in ((f"project_id= or {_ENV_ID}", pid),
                                  (f"project_secret= or {_ENV_SECRET}", secret)) if not v]
        if missing:
            raise ConfigurationError(
                "missing Spectrum credentials: set " + " and ".join(missing)
                + " (or pass lines=[Line(...)] for self-hosted relays)")
        assert pid is not None and secret is not None
        url = validate_cloud_url(_pick("cloud_url", cloud_url, env, _ENV_CLOUD)
                                 or DEFAULT_CLOUD_URL)
        shared_address = _pick("address", address, env, _ENV_ADDRESS) or DEFAULT_SHARED_ADDRESS
        template = (_pick("address_template", address_template, env, _ENV_TEMPLATE)
                    or DEFAULT_ADDRESS_TEMPLATE)
        if tls is None:
            tls_env = env.get(_ENV_TLS)
            tls = True if not tls_env else parse_bool(_ENV_TLS, tls_env)
        self.mode_hint = "cloud"
        self.project_id = pid
        self.cloud_url = url
        ssl_context = self._ssl_context

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

        return CloudAuth(
            lambda timeout: exchange_token(url, pid, secret, timeout, ssl_context),
            apply, timeout=self.timeout,
        )

    @classmethod
    def connect_emulator(cls, emulator: Any, **kwargs: Any) -> Client:
        """A client bound to a running :class:`spectrum_sync.emulator.Emulator` (its
        ``env()``: cloud URL, addresses, credentials, TLS settings)."""
        from ._validate import parse_bool

        env = dict(emulator.env())
        settings: dict[str, Any] = {
            "project_id": env.get(_ENV_ID),
            "project_secret": env.get(_ENV_SECRET),
            "cloud_url": env.get(_ENV_CLOUD),
            "address": env.get(_ENV_ADDRESS),
            "address_template": env.get(_ENV_TEMPLATE),
            "tls": parse_bool(_ENV_TLS, env.get(_ENV_TLS) or "false"),
            "ca_file": env.get(_ENV_CA),
        }
        settings.update(kwargs)
        return cls(**settings)

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.mode_hint
        return f"Client({state}, {self._backend.summary()})"

    # ----- users, spaces, lines -------------------------------------------------------

    def _normalize(self, address: str) -> User:
        return self._users.user(address, resolve=False)

    @property
    def state(self) -> StateStore:
        """The state store (routing, quota counters, receive cursors)."""
        return self._store

    @property
    def mode(self) -> str:
        """'shared', 'dedicated' (from the token grant), 'explicit' (lines=) or 'local'."""
        return self._backend.mode

    @property
    def phones(self) -> list[str]:
        """The phone numbers of the current lines ("shared" in shared mode; none in local
        mode, where the Mac's own account sends)."""
        return self._backend.phones()

    @property
    def lines(self) -> list[LineInfo]:
        """The current lines: phone, instance id, gRPC address, TLS (never their tokens)."""
        return self._backend.line_infos()

    def user(self, address: str, resolve: bool = True, *, timeout: float | None = None
             ) -> User:
        """A :class:`User` for a phone number or e-mail address.

        The address is normalised (E.164 / lower-case e-mail; otherwise
        :class:`~spectrum_sync.InvalidAddress` before any network call), then resolved with
        GetAddressInfo (service, country) unless ``resolve=False``. Results are cached."""
        from ._validate import check_timeout

        return self._users.user(address, bool(resolve), check_timeout(timeout))

    def user_cache_stats(self) -> CacheStats:
        """Hits, misses and size of the user cache."""
        return self._users.stats()

    def quota(self, phone: str | None = None, *, timeout: float | None = None) -> QuotaUsage:
        """Today's usage (UTC day) of a line; ``phone`` may be omitted with one line."""
        from ._validate import check_timeout

        return self._backend.quota_usage(phone, check_timeout(timeout))

    # ----- rich messaging: lookups beyond one space -----------------------------------

    def message(self, guid: str, *, phone: str | None = None,
                timeout: float | None = None) -> Message:
        """The message with this guid (its space and line included): from line ``phone``,
        else from whichever line holds it; :class:`~spectrum_sync.NotFoundError` when none
        does."""
        from ._validate import check_guid, check_phone, check_timeout

        return self._backend.get_message(check_guid("message guid", guid),
                                         check_phone(phone), check_timeout(timeout))

    def recent(self, limit: int | None = None, *, phone: str | None = None,
               timeout: float | None = None) -> Iterator[Message]:
        """Recent messages across all chats, newest first, fetched page by page as you
        iterate (nothing before the first ``next``): those of every line, merged by time,
        or of line ``phone``. ``limit`` caps how many (and sizes the pages); ``timeout``
        applies to each page."""
        from ._history import merge_newest_first, page_through
        from ._validate import check_count, check_phone, check_timeout

        count = check_count("limit", limit)
        chosen = check_phone(phone)
        wait = check_timeout(timeout)
        backend = self._backend

        def messages() -> Iterator[Message]:
            per_line = [page_through(pager, count)
                        for pager in backend.recent_pagers(chosen, wait)]
            yield from merge_newest_first(per_line, count)

        return messages()

    def is_imessage(self, address: str, *, timeout: float | None = None) -> bool:
        """Whether ``address`` (a phone number or e-mail address) can receive iMessages now
        (as opposed to SMS only, or nothing)."""
        from ._validate import check_timeout

        return self._backend.imessage_available(self._normalize(address).address,
                                                check_timeout(timeout))

    def focus_status(self, address: str, *, timeout: float | None = None) -> FocusStatus:
        """Whether Focus (Do Not Disturb) on the line's device silences ``address``."""
        from ._models import FocusStatus
        from ._validate import check_timeout

        normalized = self._normalize(address).address
        silenced = self._backend.focus_silenced(normalized, check_timeout(timeout))
        return FocusStatus(address=normalized, silenced=silenced)

    # ----- friend locations (Find My: LocationService) --------------------------------

    def friend_locations(self, *, phone: str | None = None,
                         timeout: float | None = None) -> list[FriendLocation]:
        """Every friend's location shared with the line ``phone`` (may be omitted with one
        line)."""
        from ._validate import check_phone, check_timeout

        return self._backend.friend_locations(None, check_phone(phone), check_timeout(timeout))

    def friend_location(self, address: str, *, phone: str | None = None,
                        timeout: float | None = None) -> FriendLocation | None:
        """``address``'s location shared with the line, or None when they share none."""
        from ._validate import check_phone, check_timeout

        found = self._backend.friend_locations(self._normalize(address).address,
                                               check_phone(phone), check_timeout(timeout))
        return found[0] if found else None

    def request_location(self, space: Space, user: User | str, *,
                         idempotency_key: str | None = None,
                         timeout: float | None = None) -> LocationRequest:
        """Send ``user`` (a participant of ``space``) a Find My request to share their
        location; returns the service's answer."""
        from ._models import User
        from ._validate import check_idempotency_key, check_timeout

        address = user.address if isinstance(user, User) else self._normalize(user).address
        return self._backend.request_location(
            space, address, idempotency_key=check_idempotency_key(idempotency_key),
            timeout=check_timeout(timeout))

    def watch_friend_locations(self, address: str | None = None, *,
                               phone: str | None = None) -> Iterator[FriendLocation]:
        """Location updates as they are observed (every friend, or ``address``), until the
        iterator is closed; the feed has no replay, so updates while nobody watches are not
        delivered later."""
        from ._validate import check_phone

        wanted = self._normalize(address).address if address is not None else None
        return self._backend.watch_locations(wanted, check_phone(phone))

    def refresh_credentials(self) -> bool:
        """Re-exchange the token now (at most once per 5 s) and reconcile the lines.

        Returns False when the rate limit skipped the exchange, with explicit lines and in
        local mode."""
        return self._backend.refresh_credentials()

    # ----- receiving (delegated to the receive component) -----------------------------

    def messages(self, *, space: Space | str | None = None, phone: str | None = None,
                 include_own: bool = False, idle_timeout: float | None = None
                 ) -> Inbox[Message]:
        """Received messages across all lines, as they arrive (blocks between them).

        Filters: ``space`` (a Space or chat guid), ``phone`` (a line), ``include_own`` (our
        own sends, echoed by the server, are hidden unless True). The cursor advances when
        you ask for the next message (or call ``msg.ack()``); use ``with client.messages()
        as inbox:`` to also commit the last one on a clean exit. With a persistent ``state``
        the loop resumes where it left off; Ctrl-C stops it within about a second.
        ``idle_timeout``: the loop ends after that many seconds without a message (None:
        never); ``inbox.get(timeout=)`` waits for one message with a limit."""
        from ._receive.filters import Filter
        from ._receive.inbox import check_idle_timeout

        idle = check_idle_timeout(idle_timeout)  # before the streams start
        return self._receiving.inbox(Filter("message", space, phone, include_own),
                                     "client.messages()").stop_when_idle(idle)

    def events(self, kinds: str | Collection[str] | None = None, *,
               space: Space | str | None = None, phone: str | None = None,
               include_own: bool = False, idle_timeout: float | None = None
               ) -> Inbox[Event]:
        """Every event kind (or only ``kinds``: message, reaction, edit, unsend, read,
        sticker, group, poll), with the same filters, commit points and ``idle_timeout``
        as :meth:`messages`."""
        from ._receive.filters import Filter
        from ._receive.inbox import check_idle_timeout

        idle = check_idle_timeout(idle_timeout)  # before the streams start
        return self._receiving.inbox(Filter(kinds, space, phone, include_own),
                                     "client.events()").stop_when_idle(idle)

    def on_message(self, handler: H) -> H:
        """Decorator: call ``handler(message)`` for each received message."""
        return self._receiving.on("message", handler)

    def on_event(self, *kinds: str) -> Callable[[H], H]:
        """Decorator: call the handler for events of ``kinds`` (every kind when none)."""
        from ._receive.filters import check_kinds

        chosen = check_kinds(kinds) if kinds else None

        def register(handler: H) -> H:
            return self._receiving.on(chosen, handler)

        return register

    def run_forever(self, *, workers: int = 1, include_own: bool = False,
                    on_error: ErrorHandler | None = None) -> None:
        """Dispatch events to the handlers until SIGINT/SIGTERM (or ``close()``).

        ``workers > 1`` runs handlers in a pool, keeping the order within each space;
        ``on_error(exc, event)`` receives handler exceptions (default: logged). A handler
        that raises ``KeyboardInterrupt`` or ``SystemExit`` ends the loop and the exception
        reaches the caller."""
        self._receiving.run_forever(workers=workers, include_own=include_own,
                                    on_error=on_error)

    def start(self, *, workers: int = 1, include_own: bool = False,
              on_error: ErrorHandler | None = None) -> Handle:
        """Like :meth:`run_forever`, in a background thread; returns a handle with
        ``stop()``, ``join()``, ``running`` and ``exception``."""
        return self._receiving.start(workers=workers, include_own=include_own,
                                     on_error=on_error)

    def health(self) -> dict[str, LineHealth]:
        """Receive health per line (by phone): state (``idle`` when not receiving), last
        frame, reconnects, gaps, state-store errors."""
        return self._receiving.health()

    def diagnose(self, *, timeout: float | None = None, network: bool = True
                 ) -> list[CheckResult]:
        """Check the set-up, as ``spectrum-sync doctor`` does: credentials (a token
        exchange), clock skew against the service, TLS roots, one cheap read call per line,
        today's quotas, the stored cursors and the state store (a probe written and read).

        ``network=False`` sends nothing to Spectrum (no exchange, no per-line call): what a
        health probe that runs every few seconds wants. Never raises for what it checks;
        each failure is a :class:`~spectrum_sync.CheckResult` with ``ok=False`` and a fix."""
        from ._doctor import diagnose
        from ._validate import check_timeout

        return diagnose(self, timeout=check_timeout(timeout) or self.timeout, network=network)

    def receive_queue_depths(self) -> list[int]:
        """Diagnostics: events waiting in the receive queue (bounded by queue_size)."""
        return self._receiving.queue_depths()

    # ----- lifecycle ------------------------------------------------------------------

    @property
    def _receiving(self) -> Receiving:
        """The receive component (made on the first receive call)."""
        return self._resources.receiving()

    def close(self, timeout: float = 5.0) -> None:
        """Stop receiving and the refresher, close the channels (idempotent). Calls in
        flight end with :class:`~spectrum_sync.ClientClosed`."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._closed_flag[0] = True
        self._close_request.explicit = True
        self._close_request.timeout = timeout
        self._finalizer()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (or the garbage collector closed the client)."""
        return self._closed

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_all_at_exit() -> None:
    for resources in list(_open_resources):
        try:
            resources.close(1.0)
        except Exception:  # interpreter shutdown: best effort
            log.debug("error closing a client at exit", exc_info=True)


atexit.register(_close_all_at_exit)
