"""The version matrix: the fast part of the suite and the demo, on every Python present.

``python -m nox`` runs the ``tests`` session on each Python of :data:`PYTHONS` found on the
machine (a missing one is skipped with a message; ``.ci/run`` makes pyenv's versions visible).
Each session installs the package itself (not editable, as a user gets it) with the pinned
pytest of the ``test`` extra, runs :data:`FAST_TESTS`, then ``spectrum-sync demo``.

The whole suite (integrations, interop, static checks, packaging) runs once, on the CI's own
Python, by ``python -m pytest``: the matrix checks that the library and its dependencies
work on each version, within CI's time budget.
"""

from __future__ import annotations

import re
from pathlib import Path

import nox
import tomllib

ROOT = Path(__file__).resolve().parent
#: Every Python the package claims (pyproject's classifiers list the same).
PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
#: Unit tests, the client against the emulator over real sockets, receiving, the demo.
FAST_TESTS = ["tests/unit", "tests/client", "tests/receive/test_waiting.py",
              "tests/test_demo.py"]
#: Of the test extra, what the fast part needs (the pins stay in one place).
FAST_TOOLS = {"pytest", "pytest-timeout"}

#: On Python 3.9, subprocess starts programs with fork() (3.10+ uses vfork), and grpcio skips
#: its fork handlers while other threads are inside gRPC, as the in-process emulator's always
#: are; the child then aborts now and then (SIGABRT in epoll, seen with grpcio 1.80), a
#: grpcio limit README states ("Web apps and workers"). The tests marked ``forks`` run on
#: every other version and in the full suite.
PY39_MARKS = "not soak and not forks"

nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = False


def _test_requirements() -> list[str]:
    """The test extra's requirements for :data:`FAST_TOOLS`, markers included."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extra = pyproject["project"]["optional-dependencies"]["test"]
    return [r for r in extra
            if re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower() in FAST_TOOLS]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The fast tests and the demo on one Python."""
    session.install(".", *_test_requirements())
    session.run("python", "-c", "import grpc, google.protobuf, sys; "
                "print(sys.version.split()[0], 'grpcio', grpc.__version__, "
                "'protobuf', google.protobuf.__version__)")
    # The venv's pytest script, from the checkout: the tests import the installed package.
    marks = ["-m", PY39_MARKS] if session.python == "3.9" else []
    session.run("pytest", "-q", "-p", "no:cacheprovider", *marks, *FAST_TESTS,
                *session.posargs)
    session.run("spectrum-sync", "demo")
