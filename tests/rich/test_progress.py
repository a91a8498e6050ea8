"""Progress callbacks of long transfers: ``send_file(progress=)``, ``download(progress=)``,
and the command line's bar on a terminal."""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from rich_helpers import ALICE

import spectrum_sync as spectrum
from spectrum_sync import Space
from spectrum_sync.emulator import Emulator

CHUNK = 64 * 1024  # the emulator's download chunk


def test_send_file_reports_the_start_and_the_end(dm: Space, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(os.urandom(300_000))
    calls: list[tuple[int, int]] = []
    sent = dm.send_file(path, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 300_000), (300_000, 300_000)]
    assert sent.attachments[0].size == 300_000


def test_download_reports_each_chunk(dm: Space, tmp_path: Path) -> None:
    data = os.urandom(5 * CHUNK + 123)
    attachment = dm.send_file(data, name="blob.bin").attachments[0]
    calls: list[tuple[int, int]] = []
    written = attachment.download(tmp_path / "copy.bin",
                                  progress=lambda done, total: calls.append((done, total)))
    assert written == len(data)
    assert calls == [(min((n + 1) * CHUNK, len(data)), len(data)) for n in range(6)]


def test_an_exception_from_the_callback_cancels_the_download(dm: Space, tmp_path: Path
                                                             ) -> None:
    attachment = dm.send_file(os.urandom(3 * CHUNK), name="blob.bin").attachments[0]

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt  # the user pressed Ctrl-C in their callback

    with pytest.raises(KeyboardInterrupt):
        attachment.download(tmp_path / "copy.bin", progress=stop)
    assert os.listdir(tmp_path) == []  # no partial file


def test_an_exception_from_the_first_call_cancels_the_send(emu: Emulator, dm: Space) -> None:
    emu.clear_requests()

    def refuse(done: int, total: int) -> None:
        raise RuntimeError("not now")

    with pytest.raises(RuntimeError, match="not now"):
        dm.send_file(b"data", name="a.txt", progress=refuse)
    assert [c for c in emu.requests if c.method == "UploadAttachment"] == []


def test_a_progress_that_is_not_callable_is_refused(dm: Space, tmp_path: Path) -> None:
    with pytest.raises(spectrum.ValidationError, match="progress must be a callable"):
        dm.send_file(b"data", name="a.txt", progress=True)  # type: ignore[arg-type]
    attachment = dm.send_file(b"data", name="a.txt").attachments[0]
    with pytest.raises(spectrum.ValidationError, match="progress must be a callable"):
        attachment.download(tmp_path / "a.txt", progress="bar")  # type: ignore[arg-type]


def _send_on_a_terminal(path: Path) -> tuple[int, str]:
    """``spectrum-sync --emulator send --file PATH`` with stderr on a pseudo-terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTRUM_")}
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "spectrum_sync", "--emulator", "send", "--to", ALICE,
             "--file", str(path)],
            env=env, stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=60)
        os.close(terminal)
        terminal = -1
        shown = b""
        with contextlib.suppress(OSError):  # EIO once the other side is closed
            while chunk := os.read(controller, 4096):
                shown += chunk
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    return proc.returncode, shown.decode()


def test_the_command_line_draws_a_bar_for_a_large_file_on_a_terminal(tmp_path: Path) -> None:
    big = tmp_path / "video.mov"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    status, shown = _send_on_a_terminal(big)
    assert status == 0, shown
    assert "uploading video.mov [" in shown, shown
    assert f"[{'#' * 30}] 100%  6.3/6.3 MB" in shown, shown

    small = tmp_path / "note.txt"
    small.write_bytes(b"a small file")
    status, shown = _send_on_a_terminal(small)
    assert status == 0 and "[" not in shown and "uploading file" in shown, shown
