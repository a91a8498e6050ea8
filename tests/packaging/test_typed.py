"""The wheel ships ``py.typed``: a user's ``mypy --strict`` checks calls into the library."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support.distributions import Built

pytest.importorskip("mypy", reason="the test extra installs mypy on Python >= 3.10")

USER_SCRIPT = '''\
import spectrum_sync as spectrum

with spectrum.Client() as client:
    space = client.space.create(client.user("+1 (555) 111-1111"))
    space.{method}("Your order has shipped")
'''


def _installed(built: Built, target: Path) -> Path:
    """The wheel unpacked as pip lays it out in site-packages."""
    with zipfile.ZipFile(built.wheel) as wheel:
        wheel.extractall(target)
    return target


def _mypy(script: Path, site: Path) -> subprocess.CompletedProcess[str]:
    # mypy finds installed packages on the interpreter's sys.path, PYTHONPATH included, and
    # types them only when they carry py.typed (PEP 561). The run is from the script's folder,
    # away from the checkout, so the checkout's sources cannot stand in for the wheel.
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", script.name],
        cwd=script.parent, env=env, capture_output=True, text=True, timeout=600,
    )


def test_wheel_marks_the_top_level_package_typed(built: Built) -> None:
    names = zipfile.ZipFile(built.wheel).namelist()
    assert "spectrum_sync/py.typed" in names


def test_a_typo_in_a_user_script_fails_mypy_strict(built: Built, tmp_path: Path) -> None:
    site = _installed(built, tmp_path / "site")
    work = tmp_path / "user"
    work.mkdir()
    good, typo = work / "good.py", work / "typo.py"
    good.write_text(USER_SCRIPT.format(method="send"))
    typo.write_text(USER_SCRIPT.format(method="sned"))

    proc = _mypy(good, site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _mypy(typo, site)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert '"Space" has no attribute "sned"' in proc.stdout, proc.stdout
