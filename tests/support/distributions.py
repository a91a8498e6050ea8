"""Built distributions of the package, shared by the packaging tests."""

from __future__ import annotations

from pathlib import Path

import attrs


@attrs.frozen
class Built:
    """The artefacts of one ``python -m build`` and what it printed."""

    sdist: Path
    wheel: Path
    output: str
