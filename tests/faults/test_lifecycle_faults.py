"""Lifecycle at its edges: forgotten clients, closed clients, forks without Python's hooks."""

from __future__ import annotations

import ctypes
import gc
import os
import subprocess
import sys
import threading
import warnings

import pytest
from support.emulator_process import EmulatorProcess
from support.forking import pretend_uwsgi
from support.receiving import ALICE, LINE, wait_until

import spectrum_sync as spectrum
from spectrum_sync.emulator import Emulator


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _spectrum_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("spectrum-")
            and not t.name.startswith("spectrum-emu")]


def test_forgotten_clients_release_their_threads_and_sockets(emu: Emulator) -> None:
    def use_and_forget(n: int) -> None:
        client = emu.client()
        client.space.create(ALICE, phone=LINE).send(f"and forget me #{n}")

    use_and_forget(0)  # warm up: lazy imports, gRPC's own threads
    gc.collect()
    fds, threads = _open_fds(), len(_spectrum_threads())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for n in range(1, 201):
            use_and_forget(n)
        gc.collect()
    # Forgotten clients are closed in the background: give that a moment.
    assert wait_until(lambda: len(_spectrum_threads()) <= threads), _spectrum_threads()
    assert wait_until(lambda: _open_fds() <= fds + 10), _open_fds() - fds
    unclosed = [w for w in caught if issubclass(w.category, ResourceWarning)
                and "not closed" in str(w.message)]
    assert len(unclosed) >= 190  # as files do: the forgotten client is named


def test_a_forgotten_client_in_a_uwsgi_master_is_closed_without_a_thread(
        emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """uWSGI's master forks its workers from C: a thread of ours alive then could hold the
    GIL and hang a worker. A client made there and dropped unclosed is closed by the
    collecting thread itself, at once, instead of on a ``spectrum-close`` thread."""
    started = pretend_uwsgi(monkeypatch, [0])
    client = emu.client()
    client.space.create(ALICE, phone=LINE).send("made in the master, then forgotten")
    resources = client._resources
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del client
        gc.collect()
    assert resources._closed  # closed on this thread, before gc.collect() returned
    assert [n for n in started if n.startswith("spectrum-")
            and not n.startswith("spectrum-emu")] == []


def test_a_space_keeps_its_client_alive(emu: Emulator) -> None:
    def space_only() -> spectrum.Space:
        return emu.client().space.create(ALICE, phone=LINE)

    space = space_only()
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        assert space.send("the client is still there").text
        del space
        gc.collect()


def test_a_closed_client_refuses_everything_clearly(emu: Emulator) -> None:
    client = emu.client()
    client.on_message(lambda m: None)
    client.phones  # noqa: B018
    client.close()
    for action in (client.start, client.messages, client.events, client.health,
                   client.refresh_credentials, client.run_forever,
                   lambda: client.space.create(ALICE, phone=LINE),
                   lambda: client.space.get(f"any;-;{ALICE}")):
        with pytest.raises(spectrum.ClientClosed):
            action()
    exchanges = [r for r in emu.rest.requests if r[1].endswith("/tokens")]  # type: ignore[union-attr]
    assert len(exchanges) == 1  # refresh_credentials() on a closed client exchanged nothing


def test_a_fork_without_pythons_fork_hooks() -> None:
    """uWSGI forks its workers from C without running Python's fork hooks: the pid checks
    alone must give the child its own channels, threads and locks. The emulator runs in its
    own process: its server threads, always inside gRPC, would make gRPC skip its own fork
    handlers, which a uWSGI worker's parent (a client only) does not do."""
    with EmulatorProcess(lines=LINE) as emu:
        _fork_and_send(emu)


def _fork_and_send(emu: EmulatorProcess) -> None:
    client = spectrum.Client(env=emu.env)
    space = client.space.create(ALICE, phone=LINE)
    space.send("before the fork")
    read, write = os.pipe()
    libc = ctypes.CDLL(None, use_errno=True)
    pid = libc.fork()  # not os.fork(): no os.register_at_fork hook runs
    if pid == 0:  # the child: must never return into pytest
        status = 1
        try:
            os.close(read)
            message = space.send("from the child", timeout=10)
            os.write(write, message.guid.encode())
            status = 0
        finally:
            os._exit(status)
    assert pid > 0, ctypes.get_errno()
    os.close(write)
    parent = space.send("from the parent")
    _, status = os.waitpid(pid, 0)
    child_guid = os.read(read, 200).decode()
    os.close(read)
    assert os.WEXITSTATUS(status) == 0
    assert child_guid and child_guid != parent.guid
    assert space.send("the parent still works").text
    texts = sorted(m["text"] for m in emu.admin("messages", method="GET")["messages"])
    assert texts == ["before the fork", "from the child", "from the parent",
                     "the parent still works"]
    client.close()


_DROPPED_AT_EXIT = """
import gc, time
import spectrum_sync
from spectrum_sync import _client

closing = _client._Resources.close

def slow_close(self, timeout):
    time.sleep(0.3)  # a close that takes a moment (channels, a store)
    closing(self, timeout)
    print("closed", flush=True)

_client._Resources.close = slow_close
spectrum_sync.Client(project_id="p", project_secret="s")  # dropped unclosed...
gc.collect()  # ...and collected: closing on a thread of its own as the script ends
"""


def test_a_client_dropped_just_before_exit_is_closed_before_the_interpreter_ends() -> None:
    # The garbage collector closes a dropped client on a thread of its own; at exit that
    # thread ran on while the interpreter, grpc included, shut down (grpcio aborted now and
    # then: "epoll_wait error: Bad file descriptor"). The exit hook now waits for it.
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", _DROPPED_AT_EXIT],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["closed"]
