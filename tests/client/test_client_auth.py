"""Token exchange, background renewal, line reconciliation."""

from __future__ import annotations

import threading
import time

import pytest
from client_helpers import ALICE, BOB, LINE_1, LINE_2, ClientFactory, EmulatorFactory, calls
from support.clocks import RENEWAL_WAIT, age_tokens, token_exchanges
from support.receiving import wait_until

import spectrum_sync as spectrum
from spectrum_sync.emulator import Emulator
from spectrum_sync.emulator.clock import ManualClock

LINE_3 = "+15550000003"


def _refresh_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "spectrum-refresh"]


def _on_test_clock(make_emulator: EmulatorFactory, make_client: ClientFactory, *,
                   token_ttl: float, lines: tuple[str, ...] = (LINE_1,),
                   ) -> tuple[ManualClock, Emulator, spectrum.Client]:
    """A dedicated-plan emulator and a client sharing one ManualClock: tokens age only when
    the test advances it."""
    clock = ManualClock()
    emu = make_emulator(plan="dedicated", lines=list(lines), token_ttl=token_ttl, clock=clock)
    return clock, emu, make_client(emu)


def test_short_token_lifetime_never_surfaces_auth_errors(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    # Three lifetimes of a 5 s token (the shortest kept) on the test clock, while a thread
    # sends without pause: the refresher renews each token at 4 s in the background, racing
    # the sends (age_tokens checks that it did, before the old token expired), and no call
    # ever meets an expired or refused token.
    clock, emu, client = _on_test_clock(make_emulator, make_client, token_ttl=5)
    space = client.space.create(ALICE)  # the first exchange, at 0 s
    sent, stop = [0], threading.Event()
    errors: list[Exception] = []

    def send() -> None:
        try:
            while not stop.is_set():
                space.send(f"message {sent[0]}")
                sent[0] += 1
        except Exception as exc:  # e.g. an AuthenticationError: fails the test below
            errors.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        for _ in range(3 * 8):  # 12 s in steps of 0.5 s, a few sends in each
            target = sent[0] + 3
            assert wait_until(lambda n=target: sent[0] >= n or bool(errors), 5)
            age_tokens(clock, emu, 0.5, ttl=5)
    finally:
        stop.set()
        sender.join(10)
    assert not errors
    # Renewed every 4 s: one exchange per lifetime, not one per call.
    assert token_exchanges(emu) == 4
    assert sent[0] >= 3 * 24
    assert not any(
        call.metadata.get("error") for call in calls(emu, "SendTextMessage")
    )


def test_refresher_thread_is_lazy_named_daemon_and_joined(
    emu: Emulator, make_client: ClientFactory
) -> None:
    before = len(_refresh_threads())
    client = make_client(emu)
    assert len(_refresh_threads()) == before  # nothing started by the constructor
    client.space.create(ALICE, phone=LINE_1)
    threads = [t for t in _refresh_threads() if t.is_alive()]
    assert len(threads) == before + 1
    assert all(t.daemon for t in threads)
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 5
    assert len([t for t in _refresh_threads() if t.is_alive()]) == before


def test_lines_added_and_removed_at_runtime_are_reconciled(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    clock, emu, client = _on_test_clock(make_emulator, make_client, token_ttl=5,
                                        lines=(LINE_1, LINE_2))
    assert client.phones == [LINE_1, LINE_2]
    on_two = client.space.create(ALICE, phone=LINE_2)
    emu.add_line(LINE_3)
    emu.remove_line(LINE_2)
    emu.add_line(None)  # an instance without a number yet: skipped
    assert client.phones == [LINE_1, LINE_2]  # nothing learned before the next exchange
    age_tokens(clock, emu, 4, ttl=5)  # the refresher's turn: its exchange reconciles
    assert wait_until(lambda: client.phones == [LINE_1, LINE_3], 5), client.phones
    assert [info.phone for info in client.lines] == [LINE_1, LINE_3]
    # The new line works at once; the removed one is gone with a clear error.
    assert client.space.create(BOB, phone=LINE_3).send("from the new line").text
    with pytest.raises(spectrum.RoutingError) as info:
        on_two.send("to a removed line")
    assert info.value.available == [LINE_1, LINE_3]
    assert LINE_1 in str(info.value) and LINE_3 in str(info.value)


def test_failed_refresh_keeps_the_valid_token(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    clock, emu, client = _on_test_clock(make_emulator, make_client, token_ttl=5)
    space = client.space.create(ALICE)  # the token expires at 5 s
    assert emu.rest is not None
    emu.rest.fail_next(1000, status=503)  # every renewal fails from now on
    clock.advance(4)  # the refresher's turn: it tries, and fails
    assert wait_until(lambda: token_exchanges(emu) == 2, RENEWAL_WAIT)
    # The refresher retries after a backoff (0.5 s or so), and fails again; every call
    # still goes out on the old token, which is valid until 5 s.
    for _ in range(3):
        clock.advance(0.3)
        space.send("still fine")
    assert wait_until(lambda: token_exchanges(emu) >= 3, RENEWAL_WAIT)  # tried again
    clock.advance(0.2)  # 5.1 s: the token has expired and no new one could be fetched
    with pytest.raises(spectrum.CloudError) as info:
        space.send("cannot authenticate")
    assert info.value.http_status == 503
    assert not any(call.metadata.get("error") for call in calls(emu, "SendTextMessage"))
    # Recovery: the next successful exchange restores service.
    emu.rest.clear_faults()
    assert space.send("recovered").text == "recovered"


def test_forced_refresh_is_rate_limited(emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(emu)
    client.phones  # noqa: B018 - first exchange
    exchanges = token_exchanges(emu)
    assert client.refresh_credentials() is False  # within 5 s of the last exchange
    assert token_exchanges(emu) == exchanges


def test_bad_credentials_fail_with_authentication_error(
    emu: Emulator, make_client: ClientFactory
) -> None:
    client = make_client(emu, project_secret="not-the-secret")
    with pytest.raises(spectrum.AuthenticationError) as info:
        client.space.create(ALICE)
    assert info.value.http_status == 401
    # One style for codes: camelCase; the REST API's spelling stays readable.
    assert (info.value.code, info.value.rest_code) == ("invalidCredentials", "INVALID_CREDENTIALS")
    assert "not-the-secret" not in str(info.value) + repr(info.value)
    assert calls(emu, "CreateChat") == []


@pytest.mark.parametrize("error_code", ["tokenExpired", "unauthenticated"])
def test_unauthenticated_on_the_wire_renews_the_token_once(
    make_emulator: EmulatorFactory, make_client: ClientFactory, error_code: str
) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE_1])
    client = make_client(emu)
    space = client.space.create(ALICE)
    time.sleep(1.1)  # a refusal right after an exchange is not taken for a lost token
    emu.fail_next(1, code="UNAUTHENTICATED", retryable=False, method="SendTextMessage",
                  error_code=error_code)
    exchanges = token_exchanges(emu)
    assert space.send("after renewal").text == "after renewal"
    assert token_exchanges(emu) == exchanges + 1


def test_a_blocked_token_is_not_renewed(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    """tokenBlocked: the service refuses this project's token on purpose; a new token from
    the same credentials would be refused too, so the library does not fetch one."""
    emu = make_emulator(plan="dedicated", lines=[LINE_1])
    client = make_client(emu)
    space = client.space.create(ALICE)
    time.sleep(1.1)
    emu.fail_next(1, code="UNAUTHENTICATED", retryable=False, method="SendTextMessage",
                  error_code="tokenBlocked")
    exchanges = token_exchanges(emu)
    with pytest.raises(spectrum.AuthenticationError) as info:
        space.send("blocked")
    assert (info.value.code, info.value.outcome) == ("tokenBlocked", "rejected")
    assert token_exchanges(emu) == exchanges
    assert len(calls(emu, "SendTextMessage")) == 1


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable"),
    [
        (200, '{"succeed": false, "code": "QUOTA", "message": "nope"}', "quota", False),
        (502, "<html>bad gateway</html>", "unknown", True),
        (200, '{"succeed": true, "data": {"type": "weird", "expiresIn": 5}}',
         "invalidResponse", False),
        (200, '{"succeed": true, "data": {"type": "shared"}}', "invalidResponse", False),
        (400, '{"code": "BAD_REQUEST", "message": "no"}', "badRequest", False),
    ],
)
def test_odd_token_exchange_answers_are_cloud_errors(
    emu: Emulator, make_client: ClientFactory, status: int, body: str, code: str,
    retryable: bool,
) -> None:
    assert emu.rest is not None
    emu.rest.fail_next(1, status=status, body=body)
    client = make_client(emu)
    with pytest.raises(spectrum.CloudError) as info:
        client.phones  # noqa: B018
    assert (info.value.code, info.value.retryable) == (code, retryable)
    assert client.phones == [LINE_1, LINE_2]  # the next exchange works


def test_diagnose_reads_the_token_lifetime_on_the_token_clock(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    clock, emu, client = _on_test_clock(make_emulator, make_client, token_ttl=600)
    client.space.create(ALICE)

    def credentials() -> spectrum.CheckResult:
        return next(c for c in client.diagnose(network=False) if c.name == "credentials")

    assert "token valid for 600 s" in credentials().detail
    clock.advance(100)  # before the refresher's turn (480 s): the same token, older
    assert "token valid for 500 s" in credentials().detail
    assert emu.rest is not None
    emu.rest.fail_next(1000, status=503)
    clock.advance(500)  # past its expiry, with every renewal failing
    assert wait_until(lambda: not credentials().ok, RENEWAL_WAIT)
    assert "no valid token" in credentials().detail
