"""ruff and mypy --strict must pass on our code (generated code excluded by the config)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_is_clean() -> None:
    folders = [f for f in ("spectrum_sync", "tests", "examples", "bench", "protos", "docs",
                           "noxfile.py") if (ROOT / f).exists()]
    proc = _run("ruff", "check", *folders)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean() -> None:
    proc = _run("mypy")  # files and strictness come from setup.cfg
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_function_is_more_complex_than_radon_grade_c() -> None:
    """docs/architecture.md, "Complexity": grade D or worse (cyclomatic complexity above
    20) is split into steps; generated code is excluded."""
    proc = _run("radon", "cc", "--min", "D", "--show-complexity", "spectrum_sync",
                "--exclude", "spectrum_sync/_proto/*")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"split these into steps:\n{proc.stdout}"


# Tools whose output a test asserts: a new release of any of them could turn CI red on its
# own, so the test extra pins each exactly (by distribution name, or a name prefix with "-").
ASSERTED_TOOLS = ("ruff", "mypy", "radon", "types-", "grpc-stubs", "grpcio-tools", "pytest",
                  "pytest-timeout", "build", "twine", "nox", "mkdocs", "mkdocstrings",
                  "mkdocstrings-python", "mkdocs-autorefs", "griffelib",
                  "griffe-inherited-docstrings")


def test_checkers_and_stubs_are_pinned_exactly() -> None:
    """A fresh machine gets the checkers, stubs and tools these tests were written against."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+, where the checks run

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["test"]

    def asserted(requirement: str) -> bool:
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()
        return any(name.startswith(t) if t.endswith("-") else name == t
                   for t in ASSERTED_TOOLS)

    found = [r for r in extras if asserted(r)]
    loose = [r for r in found if "==" not in r]
    named = {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() for r in found}
    assert {t for t in ASSERTED_TOOLS if not t.endswith("-")} <= named, named
    assert loose == [], f"pin these exactly in pyproject.toml's test extra: {loose}"
