"""``Client``: reads its configuration (``_config.py``), has its parts wired (``_wiring.py``),
keeps their lifecycle (docs/architecture.md, "Configuration").

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

from ._fork import background_thread

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._backend.quotas import QuotaUsage
    from ._clock import Clock
    from ._config import Line, QuotaLimits, RetryPolicy
    from ._doctor import CheckResult
    from ._events import Event
    from ._feature_values import FocusStatus, FriendLocation, LineInfo, LocationRequest
    from ._models import Message, Space
    from ._receive.dispatch import ErrorHandler, Handle
    from ._receive.health import LineHealth
    from ._receive.inbox import Inbox
    from ._receive.options import ReceiveOptions
    from ._receive.receiving import Receiving
    from ._spaces import SpaceAPI
    from ._state.base import StateStore
    from ._users import CacheStats, UserDirectory
    from ._values import User
    from ._wiring import ClientParts

__all__ = ["Client"]

log = logging.getLogger("spectrum_sync.client")

H = TypeVar("H", bound=Callable[..., object])


class _Resources:
    """What a client must release; closed once, by ``close()``, at exit or by the GC.

    Kept apart from the :class:`Client` object (and never referring to it), so that a client
    nobody holds any more can be collected, and closed, although its threads still run.
    The receive component is made on first use (``make_receiving``): a process that only
    sends never imports the receive machinery."""

    def __init__(self, parts: ClientParts, make_receiving: Callable[[], Receiving]) -> None:
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
        # The store's bookkeeping still under way finishes before the store closes.
        parts.monitor.close(max(0.0, deadline - time.monotonic()))
        if parts.owns_store:
            try:
                parts.store.close()
            except Exception:
                log.warning("closing the state store failed", exc_info=True)


_open_resources: weakref.WeakSet[_Resources] = weakref.WeakSet()
#: Seconds a client the garbage collector found unclosed may take to close.
_GC_CLOSE_TIMEOUT = 1.0


class _CloseRequest:
    """How the resources are being closed: by ``close(timeout)``, or by the GC; and where
    the client was made, for the GC's warning."""

    def __init__(self) -> None:
        self.explicit = False
        self.timeout = _GC_CLOSE_TIMEOUT
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


#: The thread that closes a client the garbage collector found unclosed.
_CLOSE_THREAD = "spectrum-close"


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
    # closing needs: close from a thread of its own. In a uWSGI master, where no thread of
    # ours may start, here (no other thread of ours runs there to hold such a lock).
    if background_thread(resources.close, _CLOSE_THREAD, request.timeout) is None:
        resources.close(request.timeout)


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
    replaces ``os.environ`` as the source of the variables above. (``_clock`` is for tests:
    the clock token lifetimes follow, see docs/architecture.md, "Time in tests";
    :meth:`connect_emulator` passes the emulator's test clock.)

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
        _clock: Clock | None = None,
    ) -> None:
        from ._config import ClientConfig
        from ._wiring import wire

        config = ClientConfig.read(
            project_id=project_id, project_secret=project_secret, lines=lines,
            cloud_url=cloud_url, address=address, address_template=address_template, tls=tls,
            ca_file=ca_file, timeout=timeout, retry=retry, default_region=default_region,
            user_cache_ttl=user_cache_ttl, user_cache_size=user_cache_size,
            quota_limits=quota_limits, state=state, receive=receive, env=env, local=local,
            chat_db=chat_db)
        self.timeout = config.timeout
        self._close_lock = threading.Lock()
        self._closed = False
        self._closed_flag = [False]
        closed = self._closed_flag
        parts = wire(config, lambda: closed[0], _clock)
        self._adopt(parts)

    def _adopt(self, parts: ClientParts) -> None:
        """Keep the wired parts, and start the lifecycle: owner, metrics, finalizer."""
        from ._spaces import SpaceAPI
        from ._telemetry import ClientView, watch

        self.mode_hint = parts.mode_hint
        self.project_id: str | None = parts.project_id
        self.cloud_url: str | None = parts.cloud_url
        self._ssl_context = parts.ssl_context  # read by the doctor's TLS check
        self._backend = parts.backend
        self._auth = parts.auth  # read by the doctor's checks (token state, clock skew)
        self._store = parts.store
        self._users: UserDirectory = parts.users
        backend = parts.backend
        # Built here, not with the other parts: it refers to this client (its _normalize),
        # so that ``Client().space.create(...)`` keeps the client open until it returns;
        # the parts, which the finalizer keeps, must not refer to the client.
        self.space: SpaceAPI = SpaceAPI(lambda: backend, self._normalize)
        parts.backend.set_owner(self)
        resources = self._resources = _Resources(parts, parts.make_receiving)
        # Reported in the OpenTelemetry metrics while this client lives (no-op without the
        # package); the view refers to the parts, never to the client.
        auth, monitor = parts.auth, parts.monitor
        self._telemetry_view = ClientView(
            health=lambda: resources.receiving().health(),
            quota=lambda phone: backend.quota_usage(phone, 2.0),
            phones=lambda: [info.phone for info in backend.line_infos()],
            store_failures=lambda: monitor.failures,
            token_failures=lambda: auth.failures if auth is not None else 0,
        )
        watch(self._telemetry_view)
        self._close_request = _CloseRequest()
        self._finalizer = weakref.finalize(self, _finalize, resources, self._close_request)
        self._finalizer.atexit = False  # our own exit hook closes quietly
        _open_resources.add(resources)

    @classmethod
    def connect_emulator(cls, emulator: Any, **kwargs: Any) -> Client:
        """A client bound to a running :class:`spectrum_sync.emulator.Emulator` (its
        ``env()``: cloud URL, addresses, credentials, TLS settings)."""
        from ._config import CLIENT_ENV
        from ._envnames import IMESSAGE_TLS
        from ._validate import parse_bool

        env = dict(emulator.env())
        settings: dict[str, Any] = {keyword: env.get(name)
                                    for name, keyword in CLIENT_ENV.items()}
        # Without the variable the emulator has no TLS (the client's default is TLS on).
        settings["tls"] = parse_bool(IMESSAGE_TLS, env.get(IMESSAGE_TLS) or "false")
        # An emulator on a test clock shares it: one advance() moves both sides' tokens.
        settings["_clock"] = getattr(emulator, "test_clock", None)
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
        from ._feature_values import FocusStatus
        from ._validate import check_timeout

        normalized = self._normalize(address).address
        silenced = self._backend.focus_silenced(normalized, check_timeout(timeout))
        return FocusStatus(address=normalized, silenced=silenced)

    def chat_count(self, *, include_archived: bool = False, phone: str | None = None,
                   timeout: float | None = None) -> int:
        """How many chats the line ``phone`` holds (every line's, summed, without it);
        archived chats count with ``include_archived=True`` (GetChatCount)."""
        from ._validate import check_bool, check_phone, check_timeout

        return self._backend.chat_count(check_bool("include_archived", include_archived),
                                        check_phone(phone), check_timeout(timeout))

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
        from ._validate import check_idempotency_key, check_timeout
        from ._values import User

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
    # A client the garbage collector dropped just before exit is closing on a thread of its
    # own: wait for it (as long as its close may take), so that it does not close channels
    # while the interpreter, and grpc with it, shut down (grpcio then aborted, now and then).
    for thread in threading.enumerate():
        if thread.name == _CLOSE_THREAD:
            thread.join(_GC_CLOSE_TIMEOUT + 1.0)


atexit.register(_close_all_at_exit)
