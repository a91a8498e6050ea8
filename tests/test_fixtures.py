"""One emulator and client fixture family (tests/conftest.py): tests build emulators through
``make_emulator`` (or the ``emu`` fixture, which follows ``emulator_options``) and clients
through ``make_client`` (or ``client``, which follows ``client_options``), so that all share
one cleanup path. These tests keep ad-hoc emulators and per-folder ``emu`` fixtures out."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from support.factories import LINE_1

from spectrum_sync import Client
from spectrum_sync.emulator import Emulator

TESTS = Path(__file__).resolve().parent

#: Where ``Emulator(...)`` may be called directly: (file under tests/, top-level function).
BUILD_THEIR_OWN = {
    # The fixture family itself.
    ("conftest.py", "make_emulator"),
    # Tests of the constructor's checks and of emulators that are never started or that
    # start late: the factory starts what it builds.
    ("emulator/test_robustness.py", "test_constructor_checks"),
    ("emulator/test_robustness.py", "test_context_manager_and_env"),
    ("emulator/test_admin_access.py", "test_a_malformed_admin_token_is_refused_at_construction"),
    ("emulator/test_webhooks.py", "test_webhooks_queued_while_stopped_go_out_after_start"),
    ("emulator/test_webhooks.py", "test_secret_is_generated_and_exported"),
    ("emulator/test_webhooks.py", "test_bad_webhook_configuration_is_refused"),
    ("emulator/test_structure.py", "test_the_emulator_owns_one_simulator"),
    ("emulator/test_structure.py", "test_the_old_line_identity_name_still_imports"),
}

#: Fixtures of these names are the family's, defined once in tests/conftest.py; a folder or
#: file chooses its emulator and client by overriding ``emulator_options``/``client_options``.
FAMILY = ("emu", "client", "make_emulator", "make_client")

#: Fixtures that share a family name but build something else: (file, name).
OTHER_FIXTURES = {
    ("local/test_local_client.py", "client"),  # a local-mode client on a fake Mac
}


def _is_fixture(func: ast.FunctionDef) -> bool:
    for decorator in func.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
        if isinstance(target, ast.Name) and target.id == "fixture":
            return True
    return False


def _builds_emulator(call: ast.Call) -> bool:
    func = call.func
    return (isinstance(func, ast.Name) and func.id == "Emulator") or (
        isinstance(func, ast.Attribute) and func.attr == "Emulator")


def offenders(source: str, name: str) -> list[str]:
    """What in one test module (``name``: its path under tests/) bypasses the family."""
    found: list[str] = []

    def visit(node: ast.AST, top: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            where = top
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                where = top or child.name
                if (isinstance(child, ast.FunctionDef) and child.name in FAMILY
                        and _is_fixture(child) and name != "conftest.py"
                        and (name, child.name) not in OTHER_FIXTURES):
                    found.append(f"{name}:{child.lineno}: a '{child.name}' fixture")
            if (isinstance(child, ast.Call) and _builds_emulator(child)
                    and (name, where) not in BUILD_THEIR_OWN):
                found.append(f"{name}:{child.lineno}: Emulator(...) in {where or 'the module'}")
            visit(child, where)

    visit(ast.parse(source), None)
    return found


def test_tests_build_emulators_and_clients_through_the_family() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        found += offenders(path.read_text(encoding="utf-8"), path.relative_to(TESTS).as_posix())
    assert found == [], ("use make_emulator/make_client or emulator_options/client_options "
                         "(tests/conftest.py):\n" + "\n".join(found))


def test_the_check_sees_an_ad_hoc_emulator_and_a_folder_fixture() -> None:
    source = '''
import pytest
from spectrum_sync.emulator import Emulator
import spectrum_sync.emulator as emulator

@pytest.fixture
def emu():
    with Emulator(plan="shared") as e:
        yield e

def test_x():
    emulator.Emulator(lines=[])
'''
    assert offenders(source, "faults/test_x.py") == [
        "faults/test_x.py:7: a 'emu' fixture",
        "faults/test_x.py:8: Emulator(...) in emu",
        "faults/test_x.py:12: Emulator(...) in test_x",
    ]
    assert offenders("def test_y(make_emulator):\n    make_emulator(plan='shared')\n",
                     "faults/test_y.py") == []


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    return {"plan": "dedicated", "lines": [LINE_1], "heartbeat_interval": 0.25}


@pytest.fixture
def client_options() -> dict[str, Any]:
    return {"timeout": 7.5}


def test_emu_and_client_follow_the_options_a_file_gives(emu: Emulator, client: Client) -> None:
    assert [line.number for line in emu.lines] == [LINE_1]
    assert emu.heartbeat_interval == 0.25
    assert client.phones == [LINE_1]
