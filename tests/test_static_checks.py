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


def test_checkers_and_stubs_are_pinned_exactly() -> None:
    """A fresh machine gets the checker and stubs these tests were written against."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["test"]
    checkers = ("ruff", "mypy", "types-", "grpc-stubs")
    loose = [r for r in extras if r.lower().startswith(checkers) and "==" not in r]
    found = [r for r in extras if r.lower().startswith(checkers)]
    assert len(found) >= 5, found
    assert loose == [], f"pin these exactly in pyproject.toml's test extra: {loose}"
