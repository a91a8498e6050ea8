"""The embedded Spectrum emulator's façade: a real gRPC server (and the REST token exchange).

It stands in for Spectrum Cloud in tests, demos and benchmarks. One ``grpc.server`` serves
every line on one port: the bearer token tells which line (dedicated instance or shared pool)
a call is for. :class:`Emulator` owns the servers' lifecycle (ports, TLS, start, stop) and the
test-facing control API; the state the servers share lives in
:class:`~spectrum_sync.emulator.core.EmulatorCore`, under one lock, which every call holds only
briefly (no I/O happens under it).
"""

from __future__ import annotations

import errno
import secrets
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import grpc
from google.protobuf.message import Message as ProtoMessage

from spectrum_sync._proto import (
    addresses_pb2,
    attachments_pb2,
    chats_pb2,
    events_pb2,
    groups_pb2,
    locations_pb2,
    messages_pb2,
    polls_pb2,
)
from spectrum_sync.emulator import eventlog, streams
from spectrum_sync.emulator.addresses import AddressDirectory
from spectrum_sync.emulator.auth import TokenRegistry
from spectrum_sync.emulator.clock import Clock, ClockSource, ManualClock
from spectrum_sync.emulator.core import (
    IDEMPOTENCY_WINDOW,
    MAX_CONCURRENT_CATCHUPS,
    EmulatorCore,
    LineIdentity,
    RecordedCall,
)
from spectrum_sync.emulator.faults import FaultInjector
from spectrum_sync.emulator.gateway import Gateway
from spectrum_sync.emulator.quotas import Throttles
from spectrum_sync.emulator.rest import RestServer, is_loopback_host
from spectrum_sync.emulator.services.addresses import AddressService
from spectrum_sync.emulator.services.attachments import AttachmentService
from spectrum_sync.emulator.services.chats import ChatService
from spectrum_sync.emulator.services.events import EventService
from spectrum_sync.emulator.services.groups import GroupService
from spectrum_sync.emulator.services.locations import LocationService
from spectrum_sync.emulator.services.messages import MessageService
from spectrum_sync.emulator.services.polls import PollService
from spectrum_sync.emulator.simulate import RemoteParties
from spectrum_sync.emulator.state import ChatRecord, LineState
from spectrum_sync.emulator.ui_routes import UI_PATH, UiRoutes
from spectrum_sync.emulator.webhooks import WebhookDelivery, WebhookSender

if TYPE_CHECKING:
    from spectrum_sync import Client

__all__ = ["Emulator", "LineIdentity", "RecordedCall"]

MAX_MESSAGE_BYTES = 100 * 1024 * 1024
_SERVICES = (
    (messages_pb2, "MessageService", MessageService),
    (chats_pb2, "ChatService", ChatService),
    (groups_pb2, "GroupService", GroupService),
    (polls_pb2, "PollService", PollService),
    (attachments_pb2, "AttachmentService", AttachmentService),
    (addresses_pb2, "AddressService", AddressService),
    (events_pb2, "EventService", EventService),
    (locations_pb2, "LocationService", LocationService),
)

T = TypeVar("T")


class _Shared(Generic[T]):
    """An attribute of the façade that is the core's attribute of the same name (read and
    written through), so that tests keep reaching ``emu.lock``, ``emu.deliver_sends``..."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> _Shared[T]: ...

    @overload
    def __get__(self, instance: Emulator, owner: type) -> T: ...

    def __get__(self, instance: Emulator | None, owner: type) -> _Shared[T] | T:
        if instance is None:
            return self
        value: T = getattr(instance._core, self.name)
        return value

    def __set__(self, instance: Emulator, value: T) -> None:
        setattr(instance._core, self.name, value)


class Emulator:
    """An in-process Spectrum Cloud: gRPC API, REST token exchange, control API for tests.

    Use as a context manager (``with Emulator(...) as emu``) or call :meth:`start` /
    :meth:`stop`. Ports default to free ones; :meth:`restart` keeps them (and all state).

    Control API (all thread-safe; ``line=`` takes a number or an instance id, default the
    first line; the shared plan always uses its one pool line):

    - servers: ``start() stop() restart() running grpc_address grpc_port cloud_url
      http_port env() client(**kw) admin_token ui_url``
    - lines and tokens: ``lines add_line(number|None) remove_line(line) line(line)
      issue_token_payload() token(line) line_for_token(token) revoke_tokens()``
    - the other side (carried out by :class:`RemoteParties`): ``simulate_inbound
      simulate_reaction simulate_edit simulate_unsend simulate_read simulate_typing
      simulate_group_change simulate_poll simulate_poll_vote simulate_poll_unvote
      simulate_poll_option poll_info inject_raw_event``
    - faults: ``fail_next(count, code, retryable, method, error_code, after=, context=)
      delay(seconds, method) cut_streams() cut_streams_every(frames) clear_faults()``
    - directory and clock: ``set_address(address, services, country, focused)
      set_clock(clock) advance_clock(seconds) now() test_clock``
    - inspection: ``requests clear_requests() messages(line, chat) typing quota_usage(line)
      head_sequence(line) state() open_streams wait_for_streams(count) reset()``
    - webhooks (with ``webhook_url=``): ``webhook_url webhook_secret webhook_deliveries
      wait_for_webhooks(timeout)``

    The same controls are offered over HTTP to other processes under ``/_emulator/`` (see
    :mod:`spectrum_sync.emulator.rest`): loopback clients, or any client that sends
    ``x-emulator-token: <admin_token>``.

    Control calls raise ``ValueError`` for bad input and ``KeyError`` for unknown lines,
    messages or polls.
    """


    # The core's state, shared with the servers (see EmulatorCore for what each holds).
    lock: _Shared[threading.RLock] = _Shared()
    clock: _Shared[Clock] = _Shared()
    directory: _Shared[AddressDirectory] = _Shared()
    faults: _Shared[FaultInjector] = _Shared()
    tokens: _Shared[TokenRegistry] = _Shared()
    hub: _Shared[streams.StreamHub] = _Shared()
    typing: _Shared[list[tuple[str, str, bool, bool]]] = _Shared()
    deliver_sends: _Shared[bool] = _Shared()
    plan: _Shared[str] = _Shared()
    project_id: _Shared[str] = _Shared()
    project_secret: _Shared[str] = _Shared()
    admin_token: _Shared[str] = _Shared()
    token_ttl: _Shared[float] = _Shared()
    heartbeat_interval: _Shared[float] = _Shared()
    daily_message_limit: _Shared[int] = _Shared()
    daily_new_conversation_limit: _Shared[int] = _Shared()
    event_log_size: _Shared[int] = _Shared()
    idempotency_window: _Shared[float] = _Shared()
    throttles: _Shared[Throttles] = _Shared()
    max_concurrent_catchups: _Shared[int] = _Shared()
    catchup_delay: _Shared[float] = _Shared()
    catchups_in_flight: _Shared[int] = _Shared()
    catchups_peak: _Shared[int] = _Shared()
    catchups_refused: _Shared[int] = _Shared()

    def __init__(
        self,
        plan: str = "dedicated",
        lines: Sequence[str | None] | None = None,
        project_id: str = "proj",
        project_secret: str = "secret",
        token_ttl: float = 3600,
        heartbeat_interval: float = 30.0,
        tls: tuple[str, str] | None = None,
        host: str = "127.0.0.1",
        grpc_port: int = 0,
        http_port: int = 0,
        clock: ClockSource = None,
        daily_message_limit: int = 5000,
        daily_new_conversation_limit: int = 50,
        event_log_size: int = 10000,
        record_limit: int = 100_000,
        max_workers: int = 256,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        admin_token: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        webhook_retry_base: float = 0.5,
        webhook_timeout: float = 5.0,
        idempotency_window: float = IDEMPOTENCY_WINDOW,
        throttles: Throttles | None = None,
        max_concurrent_catchups: int = MAX_CONCURRENT_CATCHUPS,
        catchup_delay: float = 0.0,
    ) -> None:
        self._id = uuid.uuid4().hex[:6]
        webhooks: WebhookSender | None = None
        if webhook_url is not None:
            if webhook_secret is None:
                webhook_secret = secrets.token_hex(32)  # the cloud's format: 64 hex digits
            webhooks = WebhookSender(webhook_url, webhook_secret, retry_base=webhook_retry_base,
                                     timeout=webhook_timeout,
                                     name=f"spectrum-emu-webhook-{self._id}")
        elif webhook_secret is not None:
            raise ValueError("webhook_secret needs webhook_url")
        self._core = EmulatorCore(
            plan, lines, project_id, project_secret, token_ttl, heartbeat_interval, clock,
            daily_message_limit, daily_new_conversation_limit, event_log_size, record_limit,
            admin_token, webhooks, idempotency_window, throttles, max_concurrent_catchups,
            catchup_delay)
        self._webhooks = webhooks
        #: Where inbound events are POSTed (``None``: no webhooks), and the signing secret.
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.tls = tls
        self.host = host
        self.max_workers = max_workers
        self.max_message_bytes = max_message_bytes
        self._lifecycle = threading.RLock()  # start, stop and restarts, one at a time
        self._server: grpc.Server | None = None
        self._executor: futures.ThreadPoolExecutor | None = None
        self._grpc_port = grpc_port
        self._http_port = http_port
        self.rest: RestServer | None = None
        core = self._core
        self._simulator = RemoteParties(core.lock, core.clock, core.directory, core.line,
                                        core.note_typing)

    @property
    def core(self) -> EmulatorCore:
        """The state the servers share (for the emulator's own modules and white-box
        tests)."""
        return self._core

    # ----- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the servers are up."""
        return self._server is not None

    def start(self) -> Emulator:
        """Start the gRPC and REST servers (on the same ports as before after a stop)."""
        with self._lifecycle:
            if self._server is not None:
                return self
            self._start_grpc()
            try:
                self._start_rest()
                if self._webhooks is not None:
                    self._webhooks.start()
            except BaseException:
                self._stop_all()
                raise
            return self

    def _tls_context(self) -> ssl.SSLContext | None:
        """The REST server's TLS context; loading it first also checks the PEM files, which
        gRPC would only reject with log lines and a failed bind."""
        if self.tls is None:
            return None
        for path in self.tls:
            try:
                _read(path)
            except OSError as exc:
                raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(self.tls[0], self.tls[1])
        except ssl.SSLError as exc:
            raise ValueError(f"cannot use the TLS certificate {self.tls[0]} with the key "
                             f"{self.tls[1]}: {exc.reason or exc}") from None
        return ctx

    def _start_grpc(self) -> None:
        self._tls_context()  # bad PEM files: a clear error before gRPC sees them
        self._core.stopping.clear()
        self.hub.closed = False
        executor = futures.ThreadPoolExecutor(
            max_workers=self.max_workers, thread_name_prefix=self.thread_name_prefix)
        server = grpc.server(
            executor,
            options=[
                ("grpc.max_send_message_length", self.max_message_bytes),
                ("grpc.max_receive_message_length", self.max_message_bytes),
                # Clients ping every 30 s even without calls; grpcio's default would answer
                # that with too_many_pings and close the connection.
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.max_ping_strikes", 0),
                # Without this a second server on a busy port would silently share it.
                ("grpc.so_reuseport", 0),
            ],
        )
        gateway = Gateway(self._core)
        for module, name, cls in _SERVICES:
            descriptor = module.DESCRIPTOR.services_by_name[name]
            handlers = gateway.method_handlers(descriptor, cls(self._core))
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(descriptor.full_name, handlers),))
            # Registered methods are matched in gRPC's core: cheaper per call.
            server.add_registered_method_handlers(  # type: ignore[attr-defined]
                descriptor.full_name, handlers)
        address = f"{self.host}:{self._grpc_port}"
        try:
            if self._grpc_port:
                # gRPC reports a busy port as a bare RuntimeError (and a log line): check
                # first, to say what went wrong.
                _check_port_free(self.host, self._grpc_port, "gRPC")
            if self.tls is not None:
                cert, key = (_read(p) for p in self.tls)
                credentials = grpc.ssl_server_credentials([(key, cert)])
                port = server.add_secure_port(address, credentials)
            else:
                port = server.add_insecure_port(address)
        except RuntimeError:
            port = 0
        except BaseException:
            executor.shutdown(wait=False)
            raise
        if port == 0:
            executor.shutdown(wait=False)
            raise OSError(errno.EADDRNOTAVAIL, f"cannot bind the gRPC port {address}")
        self._grpc_port = port
        server.start()
        self._server, self._executor = server, executor

    def _start_rest(self) -> None:
        if self.rest is None:
            self.rest = RestServer(self, host=self.host, port=self._http_port,
                                   ssl_context=self._tls_context())
            self.rest.mount(UI_PATH, UiRoutes(self._core, self._simulator, self.rest))
        try:
            self.rest.start()
        except OSError as exc:
            raise OSError(exc.errno, f"{exc.strerror or exc} (HTTP port "
                                     f"{self.host}:{self.rest.port})") from None
        self._http_port = self.rest.port

    def stop(self) -> None:
        """Stop both servers; open streams end with UNAVAILABLE at once. Keeps all state."""
        with self._lifecycle:
            self._stop_all()

    def _stop_all(self) -> None:
        self._stop_grpc()
        if self.rest is not None:
            self.rest.stop()
        if self._webhooks is not None:
            self._webhooks.stop()

    def _stop_grpc(self) -> None:
        server, executor = self._server, self._executor
        if server is None:
            return
        self._core.stopping.set()
        with self.lock:
            self.hub.closed = True
            self.hub.end_all(streams.STOPPED)
        server.stop(grace=0.3).wait(2.0)
        self._server = self._executor = None
        if executor is not None:
            executor.shutdown(wait=False)
            self._join_workers(deadline=time.monotonic() + 1.5)

    @property
    def thread_name_prefix(self) -> str:
        """Name prefix of this emulator's gRPC worker threads."""
        return f"spectrum-emu-{self._id}"

    def _join_workers(self, deadline: float) -> None:
        # Worker threads finish promptly once their calls are cancelled; wait for them
        # (bounded) so that tests do not leak threads.
        for thread in threading.enumerate():
            if thread.name.startswith(self.thread_name_prefix):
                thread.join(max(0.0, deadline - time.monotonic()))

    def restart(self) -> None:
        """Stop and start again on the same ports (state is kept, streams are cut)."""
        with self._lifecycle:
            self._stop_all()
            self.start()

    def restart_grpc(self) -> None:
        """Restart the gRPC server on its port (streams are cut); a no-op when stopped."""
        with self._lifecycle:
            if self._server is not None:
                self._stop_grpc()
                self._start_grpc()

    def restart_rest(self) -> None:
        """Restart the HTTP server on its port (open connections are cut); a no-op when
        stopped."""
        with self._lifecycle:
            if self._server is not None and self.rest is not None and self.rest.running:
                self.rest.stop()
                self.rest.start()

    def sleep(self, seconds: float) -> None:
        """Sleep that a stop interrupts (used by injected delays)."""
        self._core.sleep(seconds)

    # ----- addresses and environment ------------------------------------------------------

    @property
    def grpc_port(self) -> int:
        """The gRPC port (known after start)."""
        return self._grpc_port

    @property
    def http_port(self) -> int:
        """The REST port (known after start)."""
        return self._http_port

    @property
    def grpc_address(self) -> str:
        """``host:port`` of the gRPC server (every line is served there)."""
        return f"{self.host}:{self._grpc_port}"

    @property
    def cloud_url(self) -> str:
        """Base URL of the REST server (token exchange and ``/_emulator/`` admin API)."""
        if self.rest is None:
            raise RuntimeError("the emulator's REST server is not running")
        return str(self.rest.url)

    @property
    def ui_url(self) -> str:
        """Address of the web page that shows the conversations and plays the other side
        (README, "The emulator's web page"). On a host other than loopback it carries the
        admin token, which the page then needs."""
        url = f"{self.cloud_url}{UI_PATH}/"
        if not is_loopback_host(self.host):
            url += "?" + urllib.parse.urlencode({"token": self.admin_token})
        return url

    def env(self) -> dict[str, str]:
        """Environment variables that point a client at this emulator."""
        # The names come from the one list the client reads too (a leaf without imports:
        # the emulator imports no client internals).
        import spectrum_sync._envnames as names

        out = {
            names.IMESSAGE_ADDRESS: self.grpc_address,
            names.IMESSAGE_ADDRESS_TEMPLATE: self.grpc_address,
            names.PROJECT_ID: self.project_id,
            names.PROJECT_SECRET: self.project_secret,
            names.IMESSAGE_TLS: "true" if self.tls else "false",
            names.EMULATOR_ADMIN_TOKEN: self.admin_token,
        }
        if self.webhook_secret is not None:
            out[names.WEBHOOK_SECRET] = self.webhook_secret
        if self.rest is not None:
            out[names.CLOUD_URL] = self.cloud_url
        if self.tls is not None:
            out[names.TLS_CA_FILE] = self.tls[0]
        return out

    def client(self, **kwargs: Any) -> Client:
        """A ``spectrum_sync.Client`` bound to this emulator."""
        from spectrum_sync import Client

        return Client.connect_emulator(self, **kwargs)

    # ----- lines and tokens (the core's) --------------------------------------------------

    def line(self, line: str | None = None) -> LineState:
        """A line by number or instance id; ``None`` = the first line. On the shared plan
        the pool is the only line, whatever is asked for."""
        return self._core.line(line)

    @property
    def lines(self) -> list[LineIdentity]:
        """Current lines, in creation order."""
        return self._core.lines

    def add_line(self, number: str | None) -> str:
        """Add a dedicated line (``None``: an instance without a number); returns its id."""
        return self._core.add_line(number)

    def remove_line(self, line: str) -> None:
        """Remove a line: its tokens stop working and its open streams end."""
        self._core.remove_line(line)

    def issue_token_payload(self) -> dict[str, Any]:
        """The ``data`` object of a token exchange (new tokens each time)."""
        return self._core.issue_token_payload()

    def token(self, line: str | None = None) -> str:
        """A fresh bearer token for one line (``None``: the first / the pool)."""
        return self._core.token(line)

    def revoke_tokens(self) -> None:
        """Make every token issued so far stop working at once, as a secret rotation or a
        cloud restart does: calls with them get UNAUTHENTICATED until the client exchanges
        its credentials again. Open streams are not cut (see :meth:`cut_streams`)."""
        self._core.revoke_tokens()

    def authenticate(self, authorization: str | None) -> LineState:
        """The line a ``Bearer`` header value is for, or UNAUTHENTICATED."""
        return self._core.authenticate(authorization)

    def line_for_token(self, token: str) -> LineIdentity:
        """Instance id and number of the line a valid token is for (``number`` is ``None``
        for the shared pool and numberless lines); ``KeyError`` for unknown/expired tokens."""
        return self._core.line_for_token(token)

    # ----- clock --------------------------------------------------------------------------

    def set_clock(self, clock: ClockSource) -> None:
        """Use another clock: a ``ManualClock`` (``spectrum_sync.emulator.clock``; shared with
        the clients made afterwards), a callable, a fixed epoch value, or ``None``
        (``time.time``)."""
        self.clock.set(clock)

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward by ``seconds`` (no sleeping); on a manual
        clock, the clients' token schedules move with it."""
        self.clock.advance(seconds)

    @property
    def test_clock(self) -> ManualClock | None:
        """The manual clock this emulator follows (``Emulator(clock=ManualClock())``), which
        :meth:`client` hands to its clients: their tokens age when it advances, and their
        refreshers wake (docs/architecture.md, "Time in tests"). ``None`` otherwise."""
        return self.clock.follows

    def now(self) -> float:
        """The emulator's current time (epoch seconds)."""
        return self.clock.now()

    # ----- the other side (delegated to RemoteParties) -------------------------------------

    def simulate_inbound(
        self, from_: str, text: str | None = None, *, line: str | None = None,
        chat: str | None = None, attachment: tuple[str, bytes] | None = None,
        subject: str | None = None, reply_to: str | None = None,
        effect_id: str | None = None, forward_attachment: str | None = None,
        audio: bool = False, formatting: Sequence[tuple[str, int, int]] = (),
        mentions: Sequence[tuple[str, int, int]] = (),
    ) -> str:
        """A message from ``from_`` arrives on ``line``: in their DM, or in group ``chat``.

        ``attachment=(file_name, data)`` adds a file; ``forward_attachment=guid`` adds a
        copy of a file the line holds (one it uploaded or received: a big file without
        passing its bytes around again); ``audio`` makes it a voice message; ``formatting``
        ``(type, start, length)`` and ``mentions`` ``(address, start, length)`` describe
        ranges of the text; ``reply_to`` names the message it answers. Returns the message
        guid.
        """
        return self._simulator.simulate_inbound(
            from_, text, line=line, chat=chat, attachment=attachment, subject=subject,
            reply_to=reply_to, effect_id=effect_id, forward_attachment=forward_attachment,
            audio=audio, formatting=formatting, mentions=mentions)

    def simulate_reaction(self, from_: str, message_guid: str, emoji_or_kind: str | int,
                          remove: bool = False, *, line: str | None = None,
                          part: int | None = None) -> str:
        """``from_`` adds (or with ``remove=True`` removes) a tapback; returns its row guid."""
        return self._simulator.simulate_reaction(from_, message_guid, emoji_or_kind, remove,
                                                 line=line, part=part)

    def simulate_edit(self, message_guid: str, text: str, *, line: str | None = None) -> None:
        """The sender of an inbound message edits it."""
        self._simulator.simulate_edit(message_guid, text, line=line)

    def simulate_unsend(self, message_guid: str, *, line: str | None = None) -> None:
        """The sender of an inbound message unsends it."""
        self._simulator.simulate_unsend(message_guid, line=line)

    def simulate_read(self, message_guid: str, *, by: str | None = None,
                      line: str | None = None) -> None:
        """A recipient (``by``, default the chat's first participant) reads one of our
        messages."""
        self._simulator.simulate_read(message_guid, by=by, line=line)

    def simulate_typing(self, from_: str, *, chat: str | None = None, typing: bool = True,
                        line: str | None = None) -> None:
        """``from_`` starts/stops typing (recorded in :attr:`typing`, not an event)."""
        self._simulator.simulate_typing(from_, chat=chat, typing=typing, line=line)

    def simulate_group_change(
        self, chat: str, kind: str, *, actor: str | None = None,
        participant: str | None = None, name: str | None = None, icon: bytes | None = None,
        line: str | None = None,
    ) -> int:
        """A remote change of group ``chat`` (created when missing); returns its sequence.

        ``kind``: rename / display_name_changed (``name``), participant_added /
        participant_removed / participant_left (``participant``), icon_changed (``icon``),
        icon_removed.
        """
        return self._simulator.simulate_group_change(
            chat, kind, actor=actor, participant=participant, name=name, icon=icon, line=line)

    def simulate_poll(self, from_: str, chat: str, title: str, options: Sequence[str], *,
                      line: str | None = None) -> str:
        """``from_`` creates a poll in ``chat``; returns the poll message guid."""
        return self._simulator.simulate_poll(from_, chat, title, options, line=line)

    def simulate_poll_vote(self, from_: str, poll_guid: str, option: str, *,
                           line: str | None = None) -> None:
        """``from_`` votes for ``option`` (its identifier or its text)."""
        self._simulator.simulate_poll_vote(from_, poll_guid, option, line=line)

    def simulate_poll_unvote(self, from_: str, poll_guid: str, *,
                             line: str | None = None) -> None:
        """``from_`` withdraws their vote."""
        self._simulator.simulate_poll_unvote(from_, poll_guid, line=line)

    def simulate_poll_option(self, from_: str, poll_guid: str, text: str, *,
                             line: str | None = None) -> str:
        """``from_`` adds an option to a poll; returns its identifier."""
        return self._simulator.simulate_poll_option(from_, poll_guid, text, line=line)

    def poll_info(self, poll_guid: str, *, line: str | None = None) -> polls_pb2.PollInfo:
        """The current state of a poll."""
        return self._simulator.poll_info(poll_guid, line=line)

    def inject_raw_event(self, line: str | None = None, event: ProtoMessage | None = None, *,
                         family: str = eventlog.MESSAGE, chat_guid: str = "",
                         poll_guid: str = "") -> int:
        """Log any event as-is (e.g. a ``MessageChangeEvent`` with no ``change``; ``None``
        gives a frame with only a sequence). Returns its sequence."""
        return self._simulator.inject_raw_event(line, event, family=family,
                                                chat_guid=chat_guid, poll_guid=poll_guid)

    # ----- delivery state, stickers, cards, embedded media, chat events -------------------

    def mark_delivered(self, message_guid: str, *, quietly: bool = False,
                       line: str | None = None) -> None:
        """Report one of our messages delivered (``quietly``: to a recipient in Focus)."""
        self._simulator.set_delivery(message_guid, line=line, delivered=True, quietly=quietly)

    def fail_delivery(self, message_guid: str, error_code: int = 22, *,
                      line: str | None = None) -> None:
        """Report an Apple send error for one of our messages (``send_error_code``)."""
        if not isinstance(error_code, int) or error_code == 0:
            raise ValueError("error_code must be a non-zero integer")
        self._simulator.set_delivery(message_guid, line=line, error_code=error_code)

    def mark_played(self, message_guid: str, *, line: str | None = None) -> None:
        """Report one of our voice messages played."""
        self._simulator.set_delivery(message_guid, line=line, played=True)

    def simulate_sticker(self, from_: str, message_guid: str, image: tuple[str, bytes], *,
                         part: int | None = None, x: float = 0.5, y: float = 0.5,
                         line: str | None = None) -> None:
        """``from_`` places the sticker ``image=(file_name, data)`` on a message."""
        self._simulator.simulate_sticker(from_, message_guid, image, part=part, x=x, y=y,
                                         line=line)

    def simulate_app_card(self, from_: str, *, url: str, caption: str,
                          team_id: str = "TEAM123456", bundle_id: str = "com.example.app",
                          app_name: str = "Example", chat: str | None = None,
                          line: str | None = None) -> str:
        """``from_`` sends a mini-app card; returns the message guid."""
        return self._simulator.simulate_app_card(
            from_, url=url, caption=caption, team_id=team_id, bundle_id=bundle_id,
            app_name=app_name, chat=chat, line=line)

    def simulate_digital_touch(self, from_: str, data: bytes, mime_type: str = "image/png",
                               *, chat: str | None = None, line: str | None = None) -> str:
        """``from_`` sends a Digital Touch message (embedded media); returns its guid."""
        return self._simulator.simulate_digital_touch(from_, data, mime_type, chat=chat,
                                                      line=line)

    def simulate_chat_event(self, chat: str, change: str, *, line: str | None = None) -> int:
        """A chat is marked read, archived, unarchived, or its background set or removed on
        one of the line's devices; returns the event's sequence."""
        return self._simulator.simulate_chat_event(chat, change, line=line)

    # ----- faults -------------------------------------------------------------------------

    def fail_next(self, count: int = 1, code: str | grpc.StatusCode = "UNAVAILABLE",
                  retryable: bool = True, method: str | None = None,
                  error_code: str | None = None, *, after: bool = False,
                  message: str = "injected fault", context: dict[str, str] | None = None,
                  ) -> None:
        """Fail the next ``count`` calls (of ``method``; default: any unary call).

        The failure carries ``error-code`` (``error_code`` or a default for ``code``),
        ``x-retryable`` and ``error-context-*`` from ``context``. With ``after=True`` the call
        is carried out first and only its answer is lost.
        """
        self._core.fail_next(count, code, retryable, method, error_code, after=after,
                             message=message, context=context)

    def delay(self, seconds: float, method: str | None = None) -> None:
        """Delay every call (or every ``method`` call) by ``seconds``; 0 removes it."""
        self._core.delay(seconds, method)

    def cut_streams(self) -> None:
        """End every open stream now (clients see UNAVAILABLE)."""
        self._core.cut_streams()

    def cut_streams_every(self, frames: int) -> None:
        """End every live ``Subscribe*`` stream once it has sent ``frames`` frames (heartbeats
        included), as the cloud resets long streams; 0 turns it off. Finite catch-up replays
        are not cut this way (``cut_streams()`` still ends them)."""
        self.faults.cut_every = max(0, int(frames))

    def clear_faults(self) -> None:
        """Remove pending failures, delays and periodic cuts."""
        self.faults.clear()

    @property
    def open_streams(self) -> int:
        """How many streams are open right now."""
        return self.hub.open_count

    def wait_for_streams(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` streams are open; False on timeout."""
        return self._wait(lambda: self.hub.open_count >= count, timeout)

    @property
    def live_subscriptions(self) -> int:
        """How many live ``Subscribe*`` streams are open (catch-up replays not counted)."""
        return self.hub.live_count

    def wait_for_subscribers(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` live subscriptions are open (a receiving client
        holds one per line and event family); False on timeout."""
        return self._wait(lambda: self.hub.live_count >= count, timeout)

    @staticmethod
    def _wait(condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    # ----- requests -----------------------------------------------------------------------

    def record(self, method: str, request: ProtoMessage | None, metadata: dict[str, Any],
               ) -> None:
        """Remember a received call (bounded)."""
        self._core.record(method, request, metadata)

    @property
    def requests(self) -> list[RecordedCall]:
        """The calls received so far, oldest first: ``(method, request, metadata)``."""
        return self._core.requests

    def clear_requests(self) -> None:
        """Forget the recorded calls."""
        self._core.clear_requests()

    # ----- address directory --------------------------------------------------------------

    def set_friend_location(
        self, address: str, latitude: float | None = None, longitude: float | None = None, *,
        name: str | None = None, accuracy: float | None = None,
        long_address: str | None = None, short_address: str | None = None,
        kind: str = "live", line: str | None = None,
    ) -> None:
        """``address`` shares its location with the line (Find My); without coordinates it
        is still being located. ``kind``: live, legacy or shallow. Watchers get the update."""
        self._core.set_friend_location(
            address, latitude, longitude, name=name, accuracy=accuracy,
            long_address=long_address, short_address=short_address, kind=kind, line=line)

    def remove_friend_location(self, address: str, line: str | None = None) -> None:
        """``address`` stops sharing its location with the line."""
        self._core.remove_friend_location(address, line)

    def location_requests(self, line: str | None = None) -> list[tuple[str, str]]:
        """(chat guid, address) of every Find My request the line sent."""
        return self._core.location_requests(line)

    def set_address(self, address: str, services: Sequence[str] = ("iMessage",),
                    country: str | None = None, focused: bool = False) -> None:
        """Describe ``address`` in the directory: its services (iMessage, SMS, RCS; empty =
        unknown, so GetAddressInfo answers NOT_FOUND), country, and focus (silenced) state."""
        self._core.set_address(address, services, country, focused)

    # ----- quotas and state ---------------------------------------------------------------

    def charge(self, line: LineState, chat: ChatRecord, text: str = "") -> None:
        """Count one sent message against the line's daily quotas and throttles (or
        raise)."""
        self._core.charge(line, chat, text)

    def quota_usage(self, line: str | None = None) -> dict[str, Any]:
        """Today's usage and limits of a line."""
        return self._core.quota_usage(line)

    def head_sequence(self, line: str | None = None) -> int:
        """The line's latest event sequence."""
        return self._core.head_sequence(line)

    def note_typing(self, line: LineState, chat_guid: str, is_typing: bool,
                    from_me: bool) -> None:
        """Record a typing indicator (typing is transient: nothing is logged as an event)."""
        self._core.note_typing(line, chat_guid, is_typing, from_me)

    def messages(self, line: str | None = None, chat: str | None = None,
                 ) -> list[dict[str, Any]]:
        """What was sent and received, oldest first, as JSON-able records ``{"guid", "chat",
        "line", "text", "is_from_me", "sender", "timestamp"}``; ``line`` (number or instance
        id) and ``chat`` (a chat guid) narrow it down."""
        return self._core.messages(line, chat)

    def reset(self) -> None:
        """Forget chats, messages, attachments, polls, events, quota usage, idempotency keys,
        typing, recorded requests (gRPC and REST) and faults. Lines, tokens, the address
        directory, the clock and the ports stay; so do sequence numbers, which keep counting
        up (a client holding a cursor must never see a number again)."""
        self._core.clear()
        if self.rest is not None:
            self.rest.clear_faults()
            self.rest.clear_requests()

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot: plan, lines, chats, message counts, quotas, heads."""
        snapshot = self._core.state()
        snapshot.update(running=self.running, grpc_address=self.grpc_address)
        return snapshot

    # ----- webhooks -----------------------------------------------------------------------

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every webhook so far, oldest first: ``event_id content_type line attempts
        last_status last_error state`` (pending, delivered, dropped); empty without
        ``webhook_url``."""
        return self._core.webhook_deliveries

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Wait until no webhook is queued, in flight or waiting for a retry; False on
        timeout (deliveries only progress while the emulator runs)."""
        return True if self._webhooks is None else self._webhooks.wait_idle(timeout)

    def webhook_report(self) -> dict[str, Any]:
        """The webhook URL and deliveries as JSON (no secret)."""
        return {"url": self.webhook_url,
                "deliveries": [d._asdict() for d in self.webhook_deliveries]}




def _check_port_free(host: str, port: int, what: str) -> None:
    """``OSError`` (naming the port) when ``host:port`` cannot be bound, e.g. already in use."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(errno.EADDRNOTAVAIL, f"{exc.strerror} ({what} host {host})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise OSError(exc.errno, f"{exc.strerror or exc} ({what} port {host}:{port})",
                          ) from None


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()
