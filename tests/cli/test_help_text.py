"""``--help`` is plain text: docstrings feed it, their reST markup is not shown."""

from __future__ import annotations

import pytest
from cli_helpers import base_env, run_cli


@pytest.mark.parametrize("command", [["webhook", "verify"], ["webhook"], ["send"], ["listen"]])
def test_help_is_plain_text(command: list[str]) -> None:
    proc = run_cli(*command, "--help", env=base_env())
    assert proc.returncode == 0, proc.stderr
    assert "``" not in proc.stdout and ":class:`" not in proc.stdout, proc.stdout
    if command == ["webhook", "verify"]:
        assert "spectrum-sync webhook verify: check a saved webhook delivery." in proc.stdout
        assert "as a\ncapture or curl -D saves it" in proc.stdout
