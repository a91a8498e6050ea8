"""Configuration: arguments, environment variables, explicit lines, TLS, errors."""

from __future__ import annotations

import pytest
from client_helpers import ALICE, LINE_1, LINE_2, ClientFactory, EmulatorFactory, calls

import spectrum_sync as spectrum
from spectrum_sync.emulator import Emulator


def test_missing_credentials_say_what_to_set(make_client: ClientFactory) -> None:
    with pytest.raises(spectrum.ConfigurationError) as info:
        make_client(None, env={})
    message = str(info.value)
    assert "SPECTRUM_PROJECT_ID" in message and "SPECTRUM_PROJECT_SECRET" in message


def test_missing_secret_only_names_the_secret(make_client: ClientFactory) -> None:
    with pytest.raises(spectrum.ConfigurationError) as info:
        make_client(None, project_id="proj", env={})
    assert "SPECTRUM_PROJECT_SECRET" in str(info.value)
    assert "SPECTRUM_PROJECT_ID" not in str(info.value)


def test_contradictory_configuration_is_refused(make_client: ClientFactory) -> None:
    line = spectrum.Line("127.0.0.1:1", "tok", LINE_1, tls=False)
    with pytest.raises(spectrum.ConfigurationError, match="not both"):
        make_client(None, lines=[line], project_id="p", project_secret="s")
    with pytest.raises(spectrum.ConfigurationError, match="cloud mode"):
        make_client(None, lines=[line], cloud_url="http://x")
    with pytest.raises(spectrum.ConfigurationError, match="empty"):
        make_client(None, lines=[])
    with pytest.raises(spectrum.ConfigurationError, match="two lines"):
        make_client(None, lines=[line, line])
    with pytest.raises(spectrum.ConfigurationError, match="SPECTRUM_IMESSAGE_TLS"):
        make_client(None, env={"SPECTRUM_PROJECT_ID": "p", "SPECTRUM_PROJECT_SECRET": "s",
                               "SPECTRUM_IMESSAGE_TLS": "maybe"})
    with pytest.raises(spectrum.ConfigurationError, match="http"):
        make_client(None, project_id="p", project_secret="s", cloud_url="ftp://x", env={})
    with pytest.raises(spectrum.ConfigurationError, match="CA file"):
        make_client(None, project_id="p", project_secret="s", ca_file="/nonexistent.pem")
    with pytest.raises(spectrum.ConfigurationError, match="timeout"):
        make_client(None, project_id="p", project_secret="s", timeout=0)


def test_environment_variables_configure_the_client(
    emu: Emulator, make_client: ClientFactory
) -> None:
    client = make_client(None, env=emu.env())
    assert client.mode == "dedicated"
    assert client.phones == [LINE_1, LINE_2]
    assert client.space.create(ALICE, phone=LINE_1).send("via env").text == "via env"


def test_constructor_arguments_win_over_the_environment(
    emu: Emulator, make_client: ClientFactory
) -> None:
    env = dict(emu.env(), SPECTRUM_PROJECT_SECRET="wrong")
    client = make_client(None, project_secret=emu.project_secret, env=env)
    assert client.phones == [LINE_1, LINE_2]
    bad = make_client(None, env=env)
    with pytest.raises(spectrum.AuthenticationError) as info:
        bad.phones  # noqa: B018 - the first use exchanges the credentials
    assert info.value.http_status == 401


def test_connect_emulator_shared_mode(shared_emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(shared_emu)
    assert client.mode == "shared"
    assert client.phones == ["shared"]
    space = client.space.create(ALICE)
    assert (space.id, space.type, space.phone) == (f"any;-;{ALICE}", "dm", "shared")
    assert calls(shared_emu, "CreateChat") == []  # shared DMs need no RPC
    # The first send opens the DM, as in the cloud.
    sent = space.send("hello")
    assert sent.guid and sent.space.phone == "shared"


def test_explicit_lines_with_static_tokens(emu: Emulator, make_client: ClientFactory) -> None:
    lines = [
        spectrum.Line(emu.grpc_address, emu.token(LINE_1), LINE_1, tls=False),
        spectrum.Line(emu.grpc_address, emu.token(LINE_2), LINE_2, tls=False),
    ]
    client = make_client(None, lines=lines)
    assert client.mode == "explicit"
    assert client.phones == [LINE_1, LINE_2]
    space = client.space.create(ALICE, phone=LINE_2)
    space.send("from line 2")
    (send,) = calls(emu, "SendTextMessage")
    assert emu.line_for_token(send.metadata["authorization"].split()[1]).number == LINE_2


def test_plaintext_refused_by_default_tls(emu: Emulator, make_client: ClientFactory) -> None:
    # Without SPECTRUM_IMESSAGE_TLS=false the client speaks TLS, which a plaintext
    # server cannot answer: a connection error (each handshake fails; the call retries them
    # until its deadline, so a short one).
    env = dict(emu.env())
    del env["SPECTRUM_IMESSAGE_TLS"]
    client = make_client(None, env=env, timeout=2)
    space = client.space.get(f"any;-;{ALICE}", phone=LINE_1)
    with pytest.raises(spectrum.ConnectionError):
        space.send("never arrives")




def test_tls_with_a_ca_file(
    certificate: tuple[str, str], make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE_1], tls=certificate)
    client = make_client(emu)  # reads SPECTRUM_TLS_CA_FILE from emu.env()
    message = client.space.create(ALICE).send("over TLS")
    assert message.text == "over TLS"
    # The same client without the CA cannot even exchange its token (https, unknown CA).
    untrusting = make_client(None, env={k: v for k, v in emu.env().items()
                                        if k != "SPECTRUM_TLS_CA_FILE"}, timeout=5)
    with pytest.raises(spectrum.ConnectionError):
        untrusting.phones  # noqa: B018


def test_dedicated_address_template(emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(emu, address_template="{instanceId}.imsg.example:443")
    assert client.phones == [LINE_1, LINE_2]  # lines come from the token grant
    addresses = sorted(line.address for line in client.lines)
    expected = sorted(f"{info.instance_id}.imsg.example:443" for info in emu.lines)
    assert addresses == expected
    shared = make_client(None, project_id="p", project_secret="s", env={})
    assert shared.mode_hint == "cloud" and shared.cloud_url == "https://spectrum.photon.codes"
