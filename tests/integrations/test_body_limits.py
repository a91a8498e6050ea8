"""Oversized webhook bodies against real servers: a chunked POST (no Content-Length to check
first) of 256 MiB is answered 413 after the view read at most its limit + 1 byte, and the
server's peak memory (VmHWM of the serving process) does not grow with the body."""

from __future__ import annotations

import select
import socket
import sys
from pathlib import Path
from typing import Callable

import pytest
from integ_helpers import APPS, base_env, require_package
from support.servers import Server, free_port

MIB = 1024 * 1024
SENT = 256 * MIB
#: Far below SENT: the limit (4 MiB), the server's own buffers and the drain after a 413.
GROWTH_ALLOWED = 64 * MIB
JUNK = {"X-Spectrum-Timestamp": "1700000000", "X-Spectrum-Signature": "v0=" + "0" * 64}


def peak_rss(pid: int) -> int:
    """The process's peak resident memory so far, in bytes (Linux ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def worker_of(pid: int) -> int:
    """The one worker process of a pre-forking server (gunicorn --workers 1)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def post_chunked(port: int, path: str, total: int) -> int:
    """POST ``total`` bytes with ``Transfer-Encoding: chunked``, stopping as soon as the server
    answers (as a client should); returns the answer's status."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
                "Content-Type: application/json", "Transfer-Encoding: chunked",
                *(f"{k}: {v}" for k, v in JUNK.items())]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        frame = b"%x\r\n" % MIB + b"x" * MIB + b"\r\n"
        try:
            for _ in range(total // MIB):
                if select.select([sock], [], [], 0)[0]:
                    break  # answered early: the rest is not wanted
                sock.sendall(frame)
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: its answer may still be there
        answer = b""
        while b"\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    assert status_line.startswith("HTTP/1."), status_line
    return int(status_line.split()[1])


def check_bounded(port: int, path: str, pid: Callable[[], int]) -> None:
    # Warm up (imports, the dispatcher) with a small request, then measure the big one.
    assert post_chunked(port, path, MIB) == 401
    before = peak_rss(pid())
    assert post_chunked(port, path, SENT) == 413
    growth = peak_rss(pid()) - before
    assert growth < GROWTH_ALLOWED, f"the server grew by {growth / MIB:.0f} MiB"


def test_flask_dev_server_refuses_a_huge_chunked_body_in_bounded_memory(
        serve: Callable[..., Server]) -> None:
    require_package("flask", "flask")
    port = free_port()
    code = ("from flask_app import create_app; "
            f"create_app().run(host='127.0.0.1', port={port}, threaded=True)")
    server = serve([sys.executable, "-c", code], port=port,
                   env=base_env(SPECTRUM_WEBHOOK_SECRET="limits-secret"))
    check_bounded(port, "/spectrum/webhook", lambda: server.proc.pid)


def test_django_under_gunicorn_refuses_a_huge_chunked_body_in_bounded_memory(
        serve: Callable[..., Server]) -> None:
    require_package("django", "django")
    require_package("gunicorn", "test")
    port = free_port()
    server = serve([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                    "--workers", "1", "--worker-class", "gthread", "--threads", "2",
                    "djsite.wsgi"], port=port, cwd=APPS / "djproject",
                   env=base_env(SPECTRUM_WEBHOOK_SECRET="limits-secret"))
    check_bounded(port, "/spectrum/webhook/", lambda: worker_of(server.proc.pid))


@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_flask_under_gunicorn_refuses_a_huge_chunked_body_in_bounded_memory(
        serve: Callable[..., Server], worker_class: str) -> None:
    require_package("flask", "flask")
    require_package("gunicorn", "test")
    port = free_port()
    server = serve([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                    "--workers", "1", "--worker-class", worker_class, "flask_app:app"],
                   port=port, env=base_env(SPECTRUM_WEBHOOK_SECRET="limits-secret"))
    check_bounded(port, "/spectrum/webhook", lambda: worker_of(server.proc.pid))
