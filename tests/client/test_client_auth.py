"""Token exchange, background renewal, line reconciliation."""

from __future__ import annotations

import threading
import time

import pytest
from client_helpers import ALICE, BOB, LINE_1, LINE_2, ClientFactory, EmulatorFactory, calls

import spectrum_sync as spectrum
from spectrum_sync.emulator import Emulator

LINE_3 = "+15550000003"


def _token_exchanges(emu: Emulator) -> int:
    assert emu.rest is not None
    return sum(1 for method, path in emu.rest.requests
               if method == "POST" and path.endswith("/imessage/tokens"))


def _refresh_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "spectrum-refresh"]


def test_short_token_lifetime_never_surfaces_auth_errors(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE_1], token_ttl=5)  # the shortest kept
    client = make_client(emu)
    space = client.space.create(ALICE)
    sent = 0
    stop = time.monotonic() + 13
    while time.monotonic() < stop:
        space.send(f"message {sent}")  # any AuthenticationError fails the test
        sent += 1
        time.sleep(0.02)
    assert sent > 50
    # Renewed about every 4 s: a few exchanges, not one per call.
    assert 3 <= _token_exchanges(emu) <= 6
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
    emu = make_emulator(plan="dedicated", lines=[LINE_1, LINE_2], token_ttl=5)
    client = make_client(emu)
    assert client.phones == [LINE_1, LINE_2]
    on_two = client.space.create(ALICE, phone=LINE_2)
    emu.add_line(LINE_3)
    emu.remove_line(LINE_2)
    emu.add_line(None)  # an instance without a number yet: skipped
    deadline = time.monotonic() + 8  # the next scheduled refresh (at 4 s) reconciles
    while client.phones != [LINE_1, LINE_3]:
        assert time.monotonic() < deadline, client.phones
        time.sleep(0.05)
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
    emu = make_emulator(plan="dedicated", lines=[LINE_1], token_ttl=5)
    client = make_client(emu)
    space = client.space.create(ALICE)
    assert emu.rest is not None
    emu.rest.fail_next(1000, status=503)  # every renewal fails from now on
    stop = time.monotonic() + 4.2  # the refresher tries at 4 s, the token expires at 5 s
    while time.monotonic() < stop:
        space.send("still fine")
        time.sleep(0.05)
    time.sleep(1.2)  # now the token has expired and no new one could be fetched
    with pytest.raises(spectrum.CloudError) as info:
        space.send("cannot authenticate")
    assert info.value.http_status == 503
    # Recovery: the next successful exchange restores service.
    emu.rest.clear_faults()
    deadline = time.monotonic() + 10
    while True:
        try:
            space.send("recovered")
            break
        except spectrum.CloudError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_forced_refresh_is_rate_limited(emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(emu)
    client.phones  # noqa: B018 - first exchange
    exchanges = _token_exchanges(emu)
    assert client.refresh_credentials() is False  # within 5 s of the last exchange
    assert _token_exchanges(emu) == exchanges


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
    exchanges = _token_exchanges(emu)
    assert space.send("after renewal").text == "after renewal"
    assert _token_exchanges(emu) == exchanges + 1


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
    exchanges = _token_exchanges(emu)
    with pytest.raises(spectrum.AuthenticationError) as info:
        space.send("blocked")
    assert (info.value.code, info.value.outcome) == ("tokenBlocked", "rejected")
    assert _token_exchanges(emu) == exchanges
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
