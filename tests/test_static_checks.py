"""ruff and mypy --strict must pass on our code (generated code excluded by the config)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_is_clean() -> None:
    folders = [f for f in ("spectrum_sync", "tests", "examples", "bench", "protos")
               if (ROOT / f).is_dir()]
    proc = _run("ruff", "check", *folders)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean() -> None:
    proc = _run("mypy")  # files and strictness come from setup.cfg
    assert proc.returncode == 0, proc.stdout + proc.stderr
