"""External tools some tests need (Node and npm, redis-server, ...).

A fresh machine may lack them. Outside CI such a test is skipped with a printed reason; in CI
(``CI`` set, as ``.ci/run`` does) the same absence is a failure, so that a test can never
silently stop running there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["in_ci", "npm_folder", "require_tool"]


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def require_tool(*names: str, why: str) -> dict[str, str]:
    """The paths of the named executables; skips (fails in CI) when one is missing."""
    found = {name: shutil.which(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        message = f"{', '.join(missing)} not installed: {why} (.ci/run installs it)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return {name: str(path) for name, path in found.items()}


def npm_folder(purpose: str, packages: tuple[str, ...], *, module: bool = False) -> Path:
    """A cached folder with ``packages`` installed by npm (npm runs only when it is empty)."""
    npm = require_tool("node", "npm", why=f"the {purpose} test runs the official SDK")["npm"]
    base = os.environ.get("SPECTRUM_INTEROP_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spectrum_sync")
    key = hashlib.sha256(" ".join(packages).encode()).hexdigest()[:12]
    folder = Path(base) / f"{purpose}-{key}"
    marker = folder / "installed.ok"
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        kind = ', "type": "module"' if module else ""
        (folder / "package.json").write_text(f'{{"private": true{kind}}}\n')
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
                        *packages], cwd=folder, check=True, timeout=600)
        marker.write_text("\n".join(packages) + "\n")
    return folder
