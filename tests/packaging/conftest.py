"""The package as a user gets it: an sdist and a wheel built once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.distributions import Built

ROOT = Path(__file__).resolve().parents[2]
# What a working tree holds beyond a clean clone (caches, builds): never copied for the build.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".nox", ".venv", "site",
    "node_modules")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """``python -m build`` on a copy of the checkout (the build leaves nothing in the tree)."""
    pytest.importorskip("build", reason="the test extra installs 'build'")
    work = tmp_path_factory.mktemp("build")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCES)
    # No isolation: the test environment already has the build requirements, and a build
    # that fetched them would need the network.
    # Byte-compiling turned off in this environment would be reported as a build warning.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "dist"),
         str(source)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (sdist,) = (work / "dist").glob("*.tar.gz")
    (wheel,) = (work / "dist").glob("*.whl")
    return Built(sdist=sdist, wheel=wheel, output=proc.stdout + proc.stderr)
