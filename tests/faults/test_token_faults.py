"""Tokens and the REST exchange at their edges: revoked tokens, slow or hostile endpoints,
redirects, absurd lifetimes. Every failure is a SpectrumError within the caller's deadline."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.emulator_process import EmulatorProcess
from support.factories import ClientFactory, EmulatorFactory
from support.receiving import ALICE, FAST, LINE, all_live, take, wait_until

import spectrum_sync as spectrum
from spectrum_sync import Client
from spectrum_sync.emulator import Emulator


class RawServer:
    """A TCP server that answers every connection with ``respond(conn)`` (hostile HTTP)."""

    def __init__(self, respond: Callable[[socket.socket], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._respond = respond
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                self.requests.append(conn.recv(65536))
                self._respond(conn)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def make(respond: Callable[[socket.socket], None]) -> RawServer:
        server = RawServer(respond)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def _client(url: str, timeout: float = 3.0) -> Client:
    return Client(project_id="proj", project_secret="secret", cloud_url=url, env={},
                  timeout=timeout)


def _silent(conn: socket.socket) -> None:
    time.sleep(30)


def _trickle(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(300):  # a header every 0.2 s: a per-read socket timeout never fires
        conn.sendall(b"X-Slow: y\r\n")
        time.sleep(0.2)


@pytest.mark.parametrize("behaviour", [_silent, _trickle], ids=["silent", "trickle"])
def test_the_exchange_ends_within_the_callers_deadline(
    raw_server: Any, behaviour: Callable[[socket.socket], None]
) -> None:
    server = raw_server(behaviour)
    with _client(server.url, timeout=30) as client:
        started = time.monotonic()
        with pytest.raises(spectrum.ConnectionError) as info:
            client.space.create(ALICE, timeout=1)
        assert time.monotonic() - started < 2.0
        assert info.value.code == "timeout"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_never_followed(raw_server: Any, status: int) -> None:
    elsewhere = raw_server(lambda conn: conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))

    def redirect(conn: socket.socket) -> None:
        conn.sendall(f"HTTP/1.1 {status} Moved\r\nLocation: {elsewhere.url}/steal\r\n"
                     "Content-Length: 0\r\n\r\n".encode())

    server = raw_server(redirect)
    with _client(server.url) as client, pytest.raises(spectrum.CloudError) as info:
        client.phones  # noqa: B018
    assert info.value.http_status == status and info.value.code == "redirect"
    assert str(status) in str(info.value)
    assert elsewhere.requests == []  # the credentials went nowhere else


def _reply(raw: bytes) -> Callable[[socket.socket], None]:
    return lambda conn: conn.sendall(raw)


def _body(text: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text)


@pytest.mark.parametrize("answer", [
    b"garbage without a status line\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"succeed\"",
    b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    _body(b"[" * 100_000 + b"]" * 100_000),
    _body(b'{"succeed": true, "data": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
    _body(b"\xff\xfe not utf-8"),
    _body(b'{"succeed": true, "data": {"type": "dedicated", "auth": {"i": 5}, '
          b'"expiresIn": 60}}'),
    _body(b'{"succeed": true, "data": {"type": "shared", "token": "t", "expiresIn": "x"}}'),
    b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n" + b" " * 2_000_000,
], ids=["bad-status-line", "truncated", "long-header", "deep-json", "deep-data",
        "not-utf8", "token-not-string", "ttl-not-number", "too-large"])
def test_odd_answers_are_spectrum_errors(raw_server: Any, answer: bytes) -> None:
    server = raw_server(_reply(answer))
    with _client(server.url) as client, pytest.raises(spectrum.SpectrumError) as info:
        client.phones  # noqa: B018
    assert isinstance(info.value, (spectrum.CloudError, spectrum.ConnectionError))


@pytest.mark.parametrize("url", ["http://exa mple.com", "http://host:99999", "ftp://x",
                                 "http://", "http://user:pw@host", "https://h/\n"])
def test_a_url_that_cannot_be_one_is_refused_at_construction(url: str) -> None:
    with pytest.raises(spectrum.ConfigurationError):
        _client(url)


ODD_LIFETIMES: list[Any] = [0, -5, "NaN", 0.001, "Infinity", 1e308, 1e400]


def test_absurd_lifetimes_neither_flood_nor_kill_the_refresher(
    caplog: pytest.LogCaptureFixture, make_emulator: EmulatorFactory,
    make_client: ClientFactory,
) -> None:
    # Every lifetime gets its own emulator and client, watched through one shared window
    # of 3 s (the refreshers run on real time): the clients started first are watched longer.
    watched = []
    for expires_in in ODD_LIFETIMES:
        emu = make_emulator(plan="dedicated", lines=[LINE], heartbeat_interval=30.0)
        assert emu.rest is not None
        data = emu.issue_token_payload()
        data["expiresIn"] = expires_in
        body = json.dumps({"succeed": True, "data": data}).replace(
            '"NaN"', "NaN").replace('"Infinity"', "Infinity")
        emu.rest.fail_next(10_000, status=200, body=body)
        client = make_client(emu)
        space = client.space.create(ALICE)
        space.send("with an odd lifetime")
        watched.append((expires_in, body, emu, space))
    time.sleep(3)
    refreshers = [t for t in threading.enumerate() if t.name == "spectrum-refresh"]
    assert len(refreshers) >= len(watched) and all(t.is_alive() for t in refreshers)
    for expires_in, _, emu, space in watched:
        assert emu.rest is not None
        exchanges = [r for r in emu.rest.requests if r[1].endswith("/tokens")]
        assert len(exchanges) <= 2, f"expiresIn={expires_in}: {len(exchanges)} token " \
            "requests in 3 s"
        assert space.send("still fine").text == "still fine"
    # Clamped, with a warning naming the value each exchange returned.
    warned = Counter(f"expiresIn={json.loads(body)['data']['expiresIn']!r};"
                     for _, body, _, _ in watched)
    for text, count in warned.items():
        assert caplog.text.count(text) >= count, text


def test_revoked_tokens_heal_within_seconds(emu: Emulator) -> None:
    with emu.client(receive=FAST) as client, client.messages() as inbox:
        space = client.space.create(ALICE, phone=LINE)
        space.send("before")
        assert wait_until(lambda: all_live(client))
        emu.revoke_tokens()  # a secret rotation: every token is unknown from now on
        started = time.monotonic()
        assert space.send("after the revocation").text == "after the revocation"
        assert time.monotonic() - started < 3
        emu.cut_streams()  # the streams reconnect with the dead token: they heal too
        emu.simulate_inbound(ALICE, "received after", line=LINE)
        assert [m.text for m in take(inbox, 1)] == ["received after"]


def test_a_token_forgotten_within_a_second_of_its_exchange_heals(emu: Emulator) -> None:
    """A token refused within a second of its exchange is kept (a real authentication
    failure would make every call exchange again), unless the service had accepted it: then
    it forgot it (a restart right after start-up), and the call gets a new one."""
    with emu.client() as client:
        space = client.space.create(ALICE, phone=LINE)
        space.send("before")  # the first call: the exchange was a few ms ago
        emu.revoke_tokens()
        assert space.send("after").text == "after"
    assert len([r for r in emu.rest.requests if r[1].endswith("/tokens")]) == 2


def test_a_cloud_restart_that_forgets_everything_heals(emu_process: EmulatorProcess) -> None:
    with Client(env=emu_process.env, receive=FAST) as client, client.messages() as inbox:
        space = client.space.create(ALICE, phone=LINE)
        space.send("before the crash")
        assert wait_until(lambda: all_live(client))
        emu_process.kill()  # SIGKILL: tokens, chats, event log: all gone
        emu_process.start()  # same ports
        started = time.monotonic()
        assert space.send("after the crash", timeout=15).text == "after the crash"
        assert time.monotonic() - started < 10
        # Receiving resumes too: old cursors are unknown (a logged gap), then live.
        assert wait_until(lambda: all_live(client), 20), client.health()
        emu_process.inbound(ALICE, "received after the crash", line=LINE)
        assert [m.text for m in take(inbox, 1)] == ["received after the crash"]
