"""CHANGELOG.md follows Keep a Changelog, and the version has one source."""

from __future__ import annotations

import re
from pathlib import Path

import spectrum_sync

ROOT = Path(__file__).resolve().parents[2]
CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
KINDS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_the_changelog_follows_keep_a_changelog() -> None:
    assert CHANGELOG.startswith("# Changelog\n")
    assert "https://keepachangelog.com/en/1.1.0/" in CHANGELOG
    releases = re.findall(r"^## (.+)$", CHANGELOG, flags=re.M)
    assert releases[0] == "[Unreleased]", releases
    for heading in releases[1:]:
        assert re.fullmatch(r"\[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}", heading), heading
    kinds = set(re.findall(r"^### (.+)$", CHANGELOG, flags=re.M))
    assert kinds <= KINDS, kinds - KINDS


def test_the_newest_release_is_the_package_version() -> None:
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", CHANGELOG, flags=re.M)
    assert not released or released[0] == spectrum_sync.__version__, (
        "bump spectrum_sync.__version__ with the release in CHANGELOG.md")


def test_the_version_has_one_source() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = pyproject[pyproject.index("[project]"):]
    project = project[:project.index("\n[", 1)]
    assert re.search(r"^version\s*=", project, flags=re.M) is None, "a second version"
    assert 'dynamic = ["version"]' in project
    assert 'version = { attr = "spectrum_sync.__version__" }' in pyproject
