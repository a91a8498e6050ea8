"""``spectrum-sync webhook verify``: a saved delivery checked from the command line."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from hook_helpers import (
    SECRET,
    VECTOR_BODY,
    VECTOR_HEADERS,
    VECTOR_SIGNATURE,
    VECTOR_TIME,
    body_of,
    envelope,
    signed_headers,
)
from support.factories import EmulatorFactory

ALICE = "+15551111111"


def verify(*args: str, stdin: bytes | None = None, secret_env: str | None = None
           ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTRUM_")}
    if secret_env is not None:
        env["SPECTRUM_WEBHOOK_SECRET"] = secret_env
    return subprocess.run([sys.executable, "-m", "spectrum_sync", "webhook", "verify", *args],
                          input=stdin.decode() if stdin is not None else None,
                          capture_output=True, text=True, env=env, timeout=60)


def saved_request(body: bytes, headers: dict[str, str], *, newline: bytes = b"\r\n") -> bytes:
    head = [b"POST /hooks/spectrum HTTP/1.1", b"Host: example.com"]
    head += [f"{k}: {v}".encode() for k, v in headers.items()]
    head.append(f"Content-Length: {len(body)}".encode())
    return newline.join(head) + newline + newline + body


def one_error_line(proc: subprocess.CompletedProcess[str], status: int, needle: str) -> None:
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    assert len(proc.stderr.splitlines()) == 1 and needle in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_saved_request_with_headers_is_genuine_and_shows_its_events(tmp_path: Path) -> None:
    body = body_of(envelope({"type": "text", "text": "hi there"}))
    path = tmp_path / "delivery.http"
    path.write_bytes(saved_request(body, signed_headers(body)))
    proc = verify(str(path), "--secret", SECRET)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("genuine: signed with the given secret, sent ")
    assert lines[1] == "messages M1 (text): message"
    assert ALICE in lines[2] and "hi there" in lines[2]


def test_the_known_vector_with_headers_given_as_options(tmp_path: Path) -> None:
    path = tmp_path / "body.json"
    path.write_bytes(VECTOR_BODY)
    proc = verify(str(path), "--signature", VECTOR_SIGNATURE, "--timestamp", str(VECTOR_TIME),
                  "--json", secret_env=SECRET)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["genuine"] is True and result["fresh"] is False
    assert result["id"] == "m1" and result["events"][0]["text"] == "hi"
    assert result["age_seconds"] > 3600
    # --strict: as a server would answer now, it is too old.
    strict = verify(str(path), "--signature", VECTOR_SIGNATURE, "--timestamp",
                    str(VECTOR_TIME), "--strict", secret_env=SECRET)
    assert strict.returncode == 1 and "would refuse it" in strict.stdout


def test_a_body_changed_by_an_editor_is_not_genuine(tmp_path: Path) -> None:
    pretty = json.dumps(json.loads(VECTOR_BODY), indent=2).encode()
    path = tmp_path / "delivery.http"
    path.write_bytes(saved_request(pretty, VECTOR_HEADERS))
    one_error_line(verify(str(path), "--secret", SECRET), 1, "not genuine (signature-mismatch)")


def test_a_wrong_secret_and_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "delivery.http"
    path.write_bytes(saved_request(VECTOR_BODY, VECTOR_HEADERS, newline=b"\n"))
    one_error_line(verify(str(path), "--secret", "other"), 1, "signature-mismatch")
    assert verify(str(path), "--secret", "old", "--secret", SECRET).returncode == 0


def test_a_trailing_newline_added_after_the_body_is_trimmed_by_content_length(
        tmp_path: Path) -> None:
    path = tmp_path / "delivery.http"
    path.write_bytes(saved_request(VECTOR_BODY, VECTOR_HEADERS) + b"\n")
    assert verify(str(path), "--secret", SECRET).returncode == 0


def test_stdin_is_read_with_a_dash() -> None:
    proc = verify("-", "--secret", SECRET, stdin=saved_request(VECTOR_BODY, VECTOR_HEADERS))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("args", "status", "needle"), [
    ((), 2, "no secret"),
    (("--secret", SECRET), 2, "pass --signature and --timestamp"),
    (("--secret", SECRET, "--signature", VECTOR_SIGNATURE, "--timestamp", "soon"), 2,
     "not a unix time"),
])
def test_bad_input_is_one_clear_line(tmp_path: Path, args: tuple[str, ...], status: int,
                                     needle: str) -> None:
    path = tmp_path / "body.json"
    path.write_bytes(VECTOR_BODY)
    one_error_line(verify(str(path), *args), status, needle)


def test_unreadable_and_oversized_files(tmp_path: Path) -> None:
    one_error_line(verify(str(tmp_path / "missing"), "--secret", SECRET), 2, "cannot read")
    big = tmp_path / "big"
    with open(big, "wb") as handle:
        handle.truncate(17 * 1024 * 1024)
    one_error_line(verify(str(big), "--secret", SECRET), 2, "larger than 16 MiB")
    headers_only = tmp_path / "headers-only"
    headers_only.write_bytes(b"X-Spectrum-Timestamp: 1\r\nX-Spectrum-Signature: v0=00")
    one_error_line(verify(str(headers_only), "--secret", SECRET), 2, "no blank line")


def test_an_endless_stdin_is_refused_after_the_limit() -> None:
    # stdin that never ends (a stream piped in by mistake): read up to 16 MiB + 1 byte, then
    # one clear line; the writer sees the pipe close instead of filling memory.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTRUM_")}
    # VmHWM, not getrusage's ru_maxrss: Linux carries the parent's peak across exec into
    # ru_maxrss, so a child of a large pytest process would report pytest's memory.
    code = ("import re, sys\n"
            "from spectrum_sync.cli import main\n"
            "status = main(['webhook', 'verify', '-', '--secret', 's'])\n"
            "status_file = open('/proc/self/status').read()\n"
            "peak = re.search(r'VmHWM:\\s+(\\d+) kB', status_file).group(1)\n"
            "print('peak', peak, file=sys.stderr)\n"
            "sys.exit(status)\n")
    with subprocess.Popen(["yes", "x" * 1000], stdout=subprocess.PIPE) as endless:
        proc = subprocess.run([sys.executable, "-c", code], stdin=endless.stdout,
                              capture_output=True, text=True, env=env, timeout=60)
        endless.kill()
    *errors, peak = proc.stderr.splitlines() or [""]
    assert proc.returncode == 2 and len(errors) == 1 and "larger than 16 MiB" in errors[0], (
        proc.returncode, proc.stderr[-2000:])
    assert int(peak.split()[1]) * 1024 < 200 * 1024 * 1024


def test_a_genuine_signature_over_a_body_that_is_not_a_delivery(tmp_path: Path) -> None:
    body = b'{"hello": "world"}'
    path = tmp_path / "delivery.http"
    path.write_bytes(saved_request(body, signed_headers(body)))
    one_error_line(verify(str(path), "--secret", SECRET), 1, "genuine signature, but")


class _Saver(http.server.BaseHTTPRequestHandler):
    saved: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        head = f"{self.requestline}\r\n{self.headers}".encode("latin-1")
        self.saved.append(head.rstrip(b"\r\n") + b"\r\n\r\n" + body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def saver() -> Iterator[tuple[str, list[bytes]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Saver)
    _Saver.saved = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Saver.saved
    server.shutdown()
    server.server_close()


def test_a_delivery_from_the_emulator_saved_to_a_file_verifies(
        saver: tuple[str, list[bytes]], tmp_path: Path, make_emulator: EmulatorFactory) -> None:
    url, saved = saver
    emu = make_emulator(plan="dedicated", lines=["+15550000001"], webhook_url=url,
                        webhook_secret="emulated-secret", heartbeat_interval=30.0)
    emu.simulate_inbound(ALICE, "from the emulator")
    deadline = time.monotonic() + 10
    while not saved and time.monotonic() < deadline:
        time.sleep(0.02)
    assert saved, "the emulator delivered nothing"
    path = tmp_path / "delivery.http"
    path.write_bytes(saved[0])
    proc = verify(str(path), "--secret", "emulated-secret", "--strict")
    assert proc.returncode == 0, proc.stderr
    assert "from the emulator" in proc.stdout
