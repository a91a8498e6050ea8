"""The Flask integration under a real gunicorn: prefork with --preload, sync and gthread
workers, many concurrent requests, each send counted by the emulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from integ_helpers import LINES, base_env, post_concurrently, python_tool, require_package
from support.servers import Server

from spectrum_sync.emulator import Emulator

REQUESTS = 300


def start_gunicorn(serve: Callable[..., Server], emu: Emulator, port: int, *extra: str,
                   warm: bool) -> Server:
    require_package("gunicorn", "test")
    require_package("flask", "flask")
    env = base_env(emu, WARM_CLIENT="1" if warm else "0")
    argv = [*python_tool("gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "3",
            "--preload", "--timeout", "30", "--graceful-timeout", "5", "--backlog", "1024",
            *extra, "flask_app:app"]
    return serve(argv, env=env, port=port)


def payloads(tag: str) -> list[dict[str, Any]]:
    # Ten recipients, each message on a fixed line: the idempotency key is per line.
    return [{"to": f"+1555300{i % 10:04d}", "phone": LINES[i % 2], "text": f"{tag} #{i}",
             "key": f"{tag}-{i}", "hold": 0.01} for i in range(REQUESTS)]


@pytest.mark.parametrize(("worker", "warm"), [("sync", True), ("gthread", False)],
                         ids=["sync-client-made-before-fork", "gthread-lazy-client"])
def test_concurrent_requests_send_exactly_one_message_each(
        worker: str, warm: bool, make_emu: Callable[..., Emulator],
        serve: Callable[..., Server], port: int) -> None:
    emu = make_emu()
    extra = ["--worker-class", worker]
    if worker == "gthread":
        extra += ["--threads", "8"]
    server = start_gunicorn(serve, emu, port, *extra, warm=warm)
    sent = payloads(worker)

    answers = post_concurrently(port, "/send", sent, threads=60)

    failed = [a for a in answers if a[0] != 200]
    assert not failed, f"{failed[:3]}\n{server.log()}"
    guids = [body["guid"] for _, body in answers]
    assert len(set(guids)) == REQUESTS
    # Several workers served them (each with its own client after the fork).
    assert len({body["pid"] for _, body in answers}) >= 2
    ours = [m for m in emu.messages() if m["is_from_me"]]
    assert sorted(m["text"] for m in ours) == sorted(p["text"] for p in sent)
    assert {m["guid"] for m in ours} == set(guids)

    # The same requests again (a client retrying after a lost answer): the idempotency keys
    # make the server answer with the first messages; no second bubble.
    again = post_concurrently(port, "/send", sent[:40], threads=20)
    assert [body["guid"] for _, body in again] == guids[:40]
    assert len([m for m in emu.messages() if m["is_from_me"]]) == REQUESTS

    # A graceful stop: the master and its workers exit.
    assert server.stop() == 0, server.log()
