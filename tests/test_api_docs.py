"""The API reference (mkdocs.yml, docs/api/): built by MkDocs + mkdocstrings in strict mode,
so that a reference to a name that does not exist fails; every public name is documented."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.tools import in_ci

import spectrum_sync

ROOT = Path(__file__).resolve().parents[1]
API_PAGES = sorted((ROOT / "docs" / "api").glob("*.md"))


def _require_doc_tools() -> None:
    """The test extra installs them on Python >= 3.11; absent in CI is a failure."""
    missing = [m for m in ("mkdocs", "mkdocstrings_handlers.python",
                           "griffe_inherited_docstrings")
               if importlib.util.find_spec(m.split(".")[0]) is None]
    if missing:
        message = f"{', '.join(missing)} not installed: pip install -e '.[test]'"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def _build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=600)


def test_the_reference_builds_in_strict_mode(tmp_path: Path) -> None:
    _require_doc_tools()
    proc = _build(ROOT, tmp_path / "site")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    client_page = (tmp_path / "site" / "api" / "client" / "index.html").read_text()
    assert "idle_timeout" in client_page  # docstrings are rendered
    # reST roles became checked links, not literal markup.
    assert 'href="../errors/#spectrum_sync.InvalidAddress"' in client_page
    assert ":class:" not in client_page


@pytest.mark.parametrize("broken", [
    "::: spectrum_sync.NoSuchThing\n",  # an object that does not exist
    "See [the client][spectrum_sync.Clinet].\n",  # a cross-reference to a misspelt name
])
def test_a_broken_reference_fails_the_build(tmp_path: Path, broken: str) -> None:
    _require_doc_tools()
    root = tmp_path / "docs-copy"
    (root / "docs").mkdir(parents=True)
    (root / "mkdocs.yml").write_text((ROOT / "mkdocs.yml").read_text())
    for name in ("api", "architecture.md", "behaviour.md"):
        (root / "docs" / name).symlink_to(ROOT / "docs" / name)
    (root / "spectrum_sync").symlink_to(ROOT / "spectrum_sync")
    index = root / "docs" / "index.md"
    index.write_text(f"# Broken\n\n{broken}")
    config = (root / "mkdocs.yml").read_text().replace("nav:\n", "nav:\n  - Broken: index.md\n")
    (root / "mkdocs.yml").write_text(config)
    proc = _build(root, tmp_path / "site")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "NoSuchThing" in proc.stderr or "spectrum_sync.Clinet" in proc.stderr, proc.stderr


def test_every_public_name_is_in_the_reference() -> None:
    rendered = set()
    for page in API_PAGES:
        rendered |= set(re.findall(r"^::: spectrum_sync\.(\w+)\s*$", page.read_text(), re.M))
    public = {n for n in spectrum_sync.__all__ if not n.startswith("__")}
    assert public - rendered == set(), "add these to a page of docs/api/"


def test_every_public_name_and_method_has_a_docstring() -> None:
    missing = []
    for name in spectrum_sync.__all__:
        value = getattr(spectrum_sync, name)
        if not isinstance(value, type):
            continue
        if not inspect.getdoc(value):
            missing.append(name)
        for attribute, member in vars(value).items():
            if attribute.startswith("_") or not (
                    callable(member) or isinstance(member, (property, classmethod,
                                                            staticmethod))):
                continue
            if not inspect.getdoc(getattr(value, attribute)):
                missing.append(f"{name}.{attribute}")
    assert missing == [], f"public names without a docstring: {missing}"
