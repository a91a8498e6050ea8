"""The emulator is built by composition: it owns its parts and delegates, no mixins."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import spectrum_sync.emulator as emulator_package
from spectrum_sync.emulator import Emulator
from spectrum_sync.emulator.simulate import RemoteParties

SIMULATE_METHODS = [
    "simulate_inbound", "simulate_reaction", "simulate_edit", "simulate_unsend",
    "simulate_read", "simulate_typing", "simulate_group_change", "simulate_poll",
    "simulate_poll_vote", "simulate_poll_unvote", "simulate_poll_option", "poll_info",
    "inject_raw_event", "simulate_sticker", "simulate_app_card", "simulate_digital_touch",
    "simulate_chat_event",
]


def test_emulator_has_no_base_class() -> None:
    assert Emulator.__bases__ == (object,)


def _emulator_classes() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(emulator_package.__path__, "spectrum_sync.emulator."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                found.append(cls)
    return found


def test_no_mixins_in_the_emulator() -> None:
    # A class of ours deriving from two or more classes of ours would be a mixin.
    ours = [c for c in _emulator_classes()
            if not issubclass(c, BaseException) and not hasattr(c, "_fields")]
    for cls in ours:
        own_bases = [b for b in cls.__bases__ if b.__module__.split(".")[0] == "spectrum_sync"]
        assert len(own_bases) <= 1, f"{cls.__qualname__} mixes {own_bases}"


@pytest.mark.parametrize("name", SIMULATE_METHODS)
def test_public_simulate_methods_keep_their_signatures(name: str) -> None:
    public = inspect.signature(getattr(Emulator, name))
    inner = inspect.signature(getattr(RemoteParties, name))
    assert public == inner
    assert getattr(Emulator, name).__doc__


def test_the_emulator_owns_one_simulator() -> None:
    emu = Emulator(lines=["+15550000001"])
    assert isinstance(emu._simulator, RemoteParties)
    # Works without starting the servers: the control API acts on in-memory state.
    emu.simulate_inbound("+15551111111", "hello")
    assert emu.state()["lines"][0]["messages"] == 1


def test_the_emulator_imports_no_client_internals() -> None:
    # The emulator stands apart from the client's private modules: it may use the generated
    # code and, lazily, the public ``spectrum_sync.Client`` only.
    import ast
    from pathlib import Path

    # _envnames: the environment variables' names, a leaf without imports, shared with the
    # client so that env() and Client() cannot disagree; _clock: the test clock both sides
    # follow (a leaf on the standard library only).
    allowed = ("spectrum_sync.emulator", "spectrum_sync._proto", "spectrum_sync._envnames",
               "spectrum_sync._clock")
    root = Path(emulator_package.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
                if node.module == "spectrum_sync":
                    assert [a.name for a in node.names] in (["Client"], ["_proto"]), path
                    continue
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name == "spectrum_sync" or name.startswith("spectrum_sync."):
                    # The demo is the one exception: it is what `--demo` runs.
                    assert name.startswith(allowed) or name == "spectrum_sync._demo", (
                        f"{path.name} imports {name}")



def test_nothing_below_the_facade_imports_it() -> None:
    # The servers, services, web page and simulated parties work on EmulatorCore; only the
    # package's __init__, the CLI and the façade itself may name the façade's module (at any
    # level: module, function or TYPE_CHECKING), so that the emulator's modules form no circle.
    import ast
    from pathlib import Path

    root = Path(emulator_package.__file__).parent
    allowed = {root / "__init__.py", root / "cli.py", root / "emulator.py"}
    facade = "spectrum_sync.emulator.emulator"
    offenders = []
    for path in root.rglob("*.py"):
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if facade in names:
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


def test_the_old_line_identity_name_still_imports() -> None:
    from spectrum_sync.emulator import LineIdentity, LineInfo

    emu = Emulator(lines=["+15550000001"])
    assert LineInfo is LineIdentity
    assert emu.lines == [LineIdentity(emu.line().instance_id, "+15550000001")]
