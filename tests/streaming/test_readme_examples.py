"""The README's streaming and markdown examples run as written against the emulator."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def example(heading: str) -> str:
    """The first Python block of the section ``heading``."""
    at = README.index(f"\n### {heading}\n")
    match = re.search(r"```python\n(.*?)```", README[at:], flags=re.S)
    assert match, heading
    return match.group(1)


def run(code: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_streaming_example() -> None:
    text = "The parcel left the depot and arrives tomorrow. "
    assert run(example("Streamed answers (LLMs)")) == [text, repr([text])]


def test_markdown_example() -> None:
    out = run(example("Markdown and link previews"))
    assert out[:3] == ["Order shipped", "", "Track it here (https://e.com/t/42)."]
    assert out[3].startswith("(TextFormat(type='bold', start=0, length=13")
