"""The README's promises that can rot: the two set-up commands, CI running exactly the test
command, Python examples that parse, and links into the repository that exist."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block_after(heading_text: str) -> str:
    """The first fenced block after the line containing ``heading_text``."""
    at = README.index(heading_text)
    match = re.search(r"```\w*\n(.*?)```", README[at:], flags=re.S)
    assert match, f"no code block after {heading_text!r}"
    return match.group(1).strip()


def test_the_main_job_is_the_demo_of_the_installed_command() -> None:
    assert _block_after("Run the main job") == "pip install . && spectrum-sync demo"
    if sys.version_info >= (3, 11):
        import tomllib

        scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
        assert scripts["spectrum-sync"] == "spectrum_sync.cli:main"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    install, _, command = _block_after("Install and run the whole test suite").partition(" && ")
    assert install == 'pip install -e ".[test]"' and command == "python -m pytest"
    steps = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if line.strip() and not line.strip().startswith("#")]
    assert steps[-1] == command  # the last thing CI does, so its status is CI's status
    assert "set -euo pipefail" in steps and "export CI=true" in steps


def test_python_examples_parse() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) > 20
    for block in blocks:
        try:
            ast.parse(block)
        except SyntaxError as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"README example does not parse: {exc}\n{block}") from None


def test_links_into_the_repository_exist() -> None:
    links = re.findall(r"\]\(((?:docs|examples|bench|tests)/[^)#]+)", README)
    assert links
    for link in links:
        assert (ROOT / link).exists(), link


def test_contents_list_every_section() -> None:
    sections = re.findall(r"^## (.+)$", README, flags=re.M)
    listed = re.findall(r"^- \[(.+?)\]\(#", README, flags=re.M)
    assert [s for s in sections if s not in ("Set-up commands (fresh machine)", "Three lines",
                                             "Contents")] == listed
