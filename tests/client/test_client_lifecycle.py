"""Lifecycle: close, context manager, atexit, fork safety, thread safety."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from client_helpers import ALICE, LINE_1, LINE_2, ClientFactory, calls, message_count
from support.emulator_process import EmulatorProcess
from support.forking import in_child

import spectrum_sync as spectrum
from spectrum_sync import Client
from spectrum_sync.emulator import Emulator


def test_close_is_idempotent_and_final(emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(emu)
    space = client.space.create(ALICE, phone=LINE_1)
    client.close()
    client.close()
    assert client.closed
    with pytest.raises(spectrum.ClientClosed):
        space.send("after close")
    with pytest.raises(spectrum.ClientClosed):
        client.space.create(ALICE, phone=LINE_1)


def test_context_manager_closes(emu: Emulator) -> None:
    with emu.client() as client:
        client.space.create(ALICE, phone=LINE_1).send("inside")
    assert client.closed
    assert not [t for t in threading.enumerate()
                if t.name == "spectrum-refresh" and t.is_alive()]


@pytest.mark.forks
def test_exit_without_close_does_not_hang(emu: Emulator) -> None:
    script = textwrap.dedent(f"""
        import spectrum_sync
        client = spectrum_sync.Client()
        client.space.create({ALICE!r}, phone={LINE_1!r}).send("bye")
        print("sent", flush=True)
    """)
    env = dict(os.environ, **emu.env())
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "sent"
    assert time.monotonic() - started < 15


def _fork_and_send(space: spectrum.Space) -> None:
    """Fork after ``space`` was used; the child and the parent each send once."""
    sent: list[spectrum.Message] = []
    child_said = in_child(lambda: space.send("from the child", timeout=10).guid,
                          meanwhile=lambda: sent.append(space.send("from the parent")))
    assert not child_said.startswith("the child"), child_said
    assert child_said and child_said != sent[0].guid


@pytest.mark.forks
def test_fork_after_use_parent_and_child_both_send(emu: Emulator, client: Client) -> None:
    space = client.space.create(ALICE, phone=LINE_1)
    space.send("before fork")
    _fork_and_send(space)
    texts = [c.request.text for c in calls(emu, "SendTextMessage")]
    assert sorted(texts) == ["before fork", "from the child", "from the parent"]
    assert message_count(emu, space.id) == 3
    assert space.send("parent still works").text == "parent still works"


@pytest.mark.forks
def test_fork_after_use_with_the_cloud_in_its_own_process(make_client: ClientFactory) -> None:
    """As under a prefork app server: this process hosts no gRPC server, so grpcio's fork
    handlers run and cancel, in the child, whatever the parent's channels had pending. The
    child must send on channels of its own (it once reused the parent's: 'Stream removed
    (Closed on fork)')."""
    with EmulatorProcess() as cloud:
        client = make_client(None, env=cloud.env)
        space = client.space.create(ALICE, phone=LINE_1)
        space.send("before fork")
        _fork_and_send(space)
        texts = [m["text"] for m in cloud.admin("messages", method="GET")["messages"]]
        assert sorted(texts) == ["before fork", "from the child", "from the parent"]
        assert space.send("parent still works").text == "parent still works"


def test_32_threads_share_one_client(emu: Emulator, client: Client) -> None:
    spaces = [client.space.create(f"+1555600{i:04d}", phone=(LINE_1, LINE_2)[i % 2])
              for i in range(32)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(32)

    def work(space: spectrum.Space) -> None:
        try:
            barrier.wait()
            for n in range(10):
                space.send(f"{space.id} #{n}")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in spaces]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for space in spaces:
        assert message_count(emu, space.id) == 10
    assert client.quota(LINE_1).messages + client.quota(LINE_2).messages == 320


def test_first_use_from_many_threads_exchanges_once(
    emu: Emulator, make_client: ClientFactory
) -> None:
    client = make_client(emu)
    assert emu.rest is not None
    before = len(emu.rest.requests)
    results: list[str] = []

    def first_use() -> None:
        results.append(client.space.create(ALICE, phone=LINE_1).id)

    threads = [threading.Thread(target=first_use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 16
    exchanges = [r for r in emu.rest.requests[before:] if r[1].endswith("/imessage/tokens")]
    assert len(exchanges) == 1


#: What a send does not need: the receive machinery, the event classes and their decoder,
#: the group, poll and location services' generated modules (chats is needed to create a
#: space), the link cards' page parser, app cards, contact cards and multipart parts, and
#: what files need (their types' table, random names for downloads).
NOT_FOR_A_SEND = ("spectrum_sync._receive.", "spectrum_sync._events",
                  "spectrum_sync._wire.events", "spectrum_sync._proto.groups_pb2",
                  "spectrum_sync._proto.polls_pb2", "spectrum_sync._proto.locations_pb2",
                  "html.parser", "spectrum_sync._app_cards", "spectrum_sync._contacts",
                  "spectrum_sync._parts", "spectrum_sync._feature_values",
                  "spectrum_sync._polls", "mimetypes", "secrets")
#: The patterns a send to a phone does not need, compiled on first use: e-mail addresses,
#: file names and types, app cards' team ids, link previews (module, name).
PATTERNS_NOT_FOR_A_SEND = (("_addresses", "_EMAIL"), ("_attachments", "_UNSAFE"),
                           ("_attachments", "_CONTROL"), ("_attachments", "_MIME"),
                           ("_app_cards", "_TEAM_ID"), ("_markdown", "_URL"))


@pytest.mark.forks
def test_a_sending_process_never_loads_the_receive_machinery(emu: Emulator) -> None:
    # The receive component is made on the first receive call: a one-shot sender does not
    # pay for importing it (bench/oneshot.py), nor for compiling patterns it never uses.
    # Receiving after that works as usual.
    code = textwrap.dedent(f"""
        import importlib, re, sys
        compiled = set()
        compile_pattern = re._compile  # what re.compile, re.match... all go through
        def noting(pattern, flags):
            compiled.add(pattern)
            return compile_pattern(pattern, flags)
        re._compile = noting
        from spectrum_sync import Client
        with Client(project_id="proj", project_secret="secret",
                    cloud_url={emu.cloud_url!r}, address={emu.grpc_address!r},
                    address_template={emu.grpc_address!r}, tls=False) as client:
            client.space.create(client.user({ALICE!r}), phone={LINE_1!r}).send("hi")
            print(sorted(m for m in sys.modules if m.startswith({NOT_FOR_A_SEND!r})))
            patterns = {{name: getattr(importlib.import_module("spectrum_sync." + module), name)
                        for module, name in {PATTERNS_NOT_FOR_A_SEND!r}}}
            print(sorted(name for name, pattern in patterns.items()
                         if getattr(pattern, "pattern", pattern) in compiled))
            inbox = client.messages(idle_timeout=0.5)
            print(list(inbox), "spectrum_sync._receive.receiving" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.splitlines()
    assert out == ["[]", "[]", "[] True"]


def test_receiving_after_close_is_refused(emu: Emulator, make_client: ClientFactory) -> None:
    client = make_client(emu)
    client.close()
    with pytest.raises(spectrum.ClientClosed):
        client.messages()
