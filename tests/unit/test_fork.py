"""The one fork mechanism: whichever entry point a forked child uses first runs the reset.

Each test forks a real child and runs a check there (``support.forking``); a child that hangs
(a lock held across fork) is stopped by an alarm.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from support.forking import held_by_another_thread, in_child, pretend_uwsgi

from spectrum_sync._fork import ForkGuard, ProcessLock, background_thread
from spectrum_sync._proto import addresses_pb2
from spectrum_sync._state.sqlite import SQLiteStore
from spectrum_sync._transport.channels import ChannelFactory
from spectrum_sync._transport.lines import LineConnection, LineSpec
from spectrum_sync._wire.rpc import rpc_for

pytestmark = pytest.mark.forks


def test_the_reset_runs_once_in_the_child_and_never_in_the_parent() -> None:
    resets: list[int] = []
    guard = ForkGuard(lambda: resets.append(os.getpid()))
    guard.check()
    assert resets == []

    def child() -> str:
        guard.check()
        guard.check()
        return f"{len(resets)} {resets[0] == os.getpid()}"

    assert in_child(child) == "1 True"
    guard.check()
    assert resets == []


def test_a_line_used_before_fork_gives_the_child_its_own_channel() -> None:
    """The child's first call through a callable cached in the parent must not reach the
    parent's channel (it did: the cached-callable path saw the fork, the channel path did not).
    """
    line = LineConnection(LineSpec("k", "+15550000001", "127.0.0.1:9", False, "token"),
                          ChannelFactory())
    rpc = rpc_for(addresses_pb2.GetAddressInfoRequest())
    parent_callable = line.unary(rpc)
    parent_channel = line._channels[False]

    def child() -> str:
        child_callable = line.unary(rpc)
        return (f"callable {'new' if child_callable is not parent_callable else 'inherited'}, "
                f"channel {'new' if line._channels[False] is not parent_channel else 'inherited'}")

    try:
        assert in_child(child) == "callable new, channel new"
        assert line.unary(rpc) is parent_callable  # the parent keeps its own
    finally:
        line.close()


def test_a_process_lock_held_across_fork_does_not_hang_the_child() -> None:
    lock = ProcessLock()

    def child() -> str:
        with lock:  # the holding thread does not exist here
            return "entered"

    with held_by_another_thread(lock):
        assert in_child(child, seconds=5) == "entered"


def test_a_sqlite_store_closed_first_in_the_child_does_not_wait_on_the_parents_lock(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "state.db")
    store.set_route("chat", "+1")

    def child() -> str:
        store.close()
        return "closed"

    # A parent thread is inside a store call at the moment of the fork.
    with held_by_another_thread(store._lock):
        assert in_child(child, seconds=5) == "closed"
    assert store.get_route("chat") == "+1"  # the parent's connection is untouched
    store.close()


def test_background_threads_start_except_in_a_uwsgi_master(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The one gate of the threads the library starts of its own accord: a daemon thread
    # elsewhere (and in a uWSGI worker); nothing in a uWSGI master, which forks from C.
    ran = threading.Event()
    thread = background_thread(ran.set, "spectrum-test")
    assert thread is not None and thread.daemon and thread.name == "spectrum-test"
    assert ran.wait(5)
    worker = [0]
    pretend_uwsgi(monkeypatch, worker)
    ran.clear()
    assert background_thread(ran.set, "spectrum-test") is None
    assert not ran.wait(0.2)
    worker[0] = 1
    thread = background_thread(ran.set, "spectrum-test")
    assert thread is not None and ran.wait(5)
