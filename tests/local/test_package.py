"""The local-mode package stays self-contained and light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import spectrum_sync._local as local


def test_exports() -> None:
    for name in local.__all__:
        assert hasattr(local, name), name
    assert issubclass(local.ChatDBBusy, local.LocalError) and local.ChatDBBusy.retryable


def test_does_not_import_the_client_internals() -> None:
    """Only the standard library: importing it pulls in no grpc machinery of its own."""
    code = (
        "import sys, spectrum_sync\n"
        "before = set(sys.modules)\n"
        "import spectrum_sync._local\n"
        "new = sorted(m for m in set(sys.modules) - before if m.startswith('spectrum_sync'))\n"
        "print(' '.join(new))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    assert all(name.startswith("spectrum_sync._local") for name in out), out


@pytest.mark.skipif(sys.version_info < (3, 10), reason="sys.stdlib_module_names is 3.10+")
def test_sources_import_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    for path in Path(local.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
