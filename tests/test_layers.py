"""The layer map of docs/architecture.md ("Layers"), read from the code and enforced.

Every module's imports of ``spectrum_sync`` modules are read with :mod:`ast`, at module level
AND inside functions (a function-level import runs too, just later; hiding an upward import in
a function does not make it go down). Imports under ``if TYPE_CHECKING:`` are left out: they
never run, so they can neither load a layer above nor close an import cycle; a lower module
may name a type from above in its annotations (e.g. ``_delivery`` waits on a ``Message``).

A module may import modules of its own layer or of a layer below, never one above; the
emulator stands beside the client (it may use only the leaves: generated code and the
environment variables' names) and only the integrations and the CLI may import it. The
emulator's façade (``Emulator``, which hands out a ``Client`` bound to it), its package's
``__init__`` (which re-exports the façade) and its CLI (which runs the demo client) use the
client: they stand in the top layer, above both. No two
modules may import each other, directly or round a circle.
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

import attrs
import pytest

import spectrum_sync

PACKAGE = pathlib.Path(spectrum_sync.__file__).parent

#: The layers, bottom first: each entry is a layer's name and the modules (or packages, by
#: prefix) in it. The longest matching prefix places a module. Keep docs/architecture.md's
#: diagram in step with this table.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("leaves", (
        "_errors", "_validate", "_envnames", "_fork", "_backoff", "_clock", "_effects",
        "_reactions", "_addresses", "_config", "_telemetry", "_logfields", "_bodies",
        "_open_graph", "_proto", "_records",
    )),
    ("values", ("_values", "_feature_values")),
    ("helpers of the handles", (
        "_attachments", "_app_cards", "_contacts", "_delivery", "_streaming", "_markdown",
        "_history", "_responding", "_parts",
    )),
    ("handles", ("_models", "_events", "_polls")),
    ("wire and local conversion", ("_wire", "_local")),
    ("transport", ("_transport",)),
    ("state", ("_state",)),
    ("backend", ("_backend",)),
    ("receive", ("_receive",)),
    ("client", ("_client", "_wiring", "_spaces", "_users", "_doctor", "_framework")),
    ("integrations and CLI", (
        "__init__", "webhooks", "flask", "django", "pytest_plugin", "cli", "_cli",
        "__main__", "_demo",
    )),
]

#: Beside the layers: the emulator, which may import only the leaves (and itself) and which
#: only the integrations and the CLI may import.
EMULATOR = "emulator"
#: The parts of the emulator that use the client, in the top layer (docs/architecture.md,
#: "The emulator"): nothing else under ``emulator/`` may import them.
EMULATOR_ON_TOP = {"emulator": "integrations and CLI", "emulator.emulator": "integrations and CLI",
                   "emulator.cli": "integrations and CLI"}
EMULATOR_MAY_IMPORT = {"leaves"}
EMULATOR_IMPORTED_BY = {"integrations and CLI"}

#: Known imports that run up the layers, each to be deleted here when its fix lands.
#: (importer, imported), both without the ``spectrum_sync.`` prefix.
KNOWN_UPWARD: set[tuple[str, str]] = set()

#: Known import cycles (each a set of module names), to be deleted when broken. None today:
#: the ones left (in `_receive/` and the emulator) go round TYPE_CHECKING imports only.
KNOWN_CYCLES: list[frozenset[str]] = []


@attrs.frozen
class Import:
    """One import of a ``spectrum_sync`` module: who, what, where, and how it runs."""

    importer: str
    imported: str
    line: int
    in_function: bool
    type_checking: bool

    def __str__(self) -> str:
        where = "in a function" if self.in_function else "at module level"
        return f"{self.importer}:{self.line} imports {self.imported} ({where})"


def _module_names() -> dict[str, pathlib.Path]:
    """Every module of the package by its name relative to the package (``_wire.rpc``;
    ``__init__`` for the package itself, ``webhooks`` for a subpackage's ``__init__``)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _module_names()


def _is_package(name: str) -> bool:
    return name == "__init__" or MODULES[name].name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom | ast.Import) -> Iterator[str]:
    """The package modules an import statement loads (names without the package prefix)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield from _ours(alias.name.split("."))
        return
    if node.level:
        base = [] if importer == "__init__" else importer.split(".")
        if not _is_package(importer):
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = base + (node.module.split(".") if node.module else [])
    else:
        if not node.module:
            return
        dotted = node.module.split(".")
        if dotted[0] != "spectrum_sync":
            return
        module = dotted[1:]
    for alias in node.names:
        submodule = ".".join([*module, alias.name])
        if submodule in MODULES:  # `from . import x` of a module x
            yield submodule
        else:
            yield ".".join(module) or "__init__"


def _ours(dotted: list[str]) -> Iterator[str]:
    if dotted[0] == "spectrum_sync":
        yield ".".join(dotted[1:]) or "__init__"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(name: str, source: str | None = None) -> list[Import]:
    """Every import of a package module in module ``name`` (its file, or ``source``), at
    module and function level."""
    if source is None:
        source = MODULES[name].read_text(encoding="utf-8")
    tree = ast.parse(source)
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for inner in child.body:
                    visit_one(inner, in_function, True)
                for inner in child.orelse:
                    visit_one(inner, in_function, type_checking)
            else:
                visit_one(child, in_function, type_checking)

    def visit_one(node: ast.AST, in_function: bool, type_checking: bool) -> None:
        in_function = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in _resolve(name, node):
                if target in MODULES and target != name:
                    found.append(Import(name, target, node.lineno, in_function, type_checking))
        visit(node, in_function, type_checking)

    visit(tree, False, False)
    return found


def running_imports() -> list[Import]:
    """The imports that run (TYPE_CHECKING ones left out), of every module."""
    return [i for name in sorted(MODULES) for i in imports_of(name) if not i.type_checking]


def layer_of(name: str) -> str:
    """The layer a module belongs to (the emulator is its own, but for its façade)."""
    if name in EMULATOR_ON_TOP:
        return EMULATOR_ON_TOP[name]
    if name == EMULATOR or name.startswith(EMULATOR + "."):
        return EMULATOR
    best, length = None, -1
    for layer, prefixes in LAYERS:
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > length:
                best, length = layer, len(prefix)
    if best is None:
        raise LookupError(f"{name} is in no layer: add it to LAYERS in tests/test_layers.py "
                          "and to docs/architecture.md")
    return best


RANK = {layer: rank for rank, (layer, _) in enumerate(LAYERS)}


def runs_up(imp: Import) -> bool:
    """Whether an import goes against the layer map."""
    low, high = layer_of(imp.importer), layer_of(imp.imported)
    if low == EMULATOR or high == EMULATOR:
        if low == high:
            return False
        if low == EMULATOR:
            return high not in EMULATOR_MAY_IMPORT
        return low not in EMULATOR_IMPORTED_BY
    return RANK[high] > RANK[low]


def cycles(edges: list[Import]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm,
    iterative so that deep chains do not hit the recursion limit)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for imp in edges:
        graph[imp.importer].add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_every_module_has_a_layer() -> None:
    for name in MODULES:
        layer_of(name)


def test_no_import_runs_up_the_layers() -> None:
    upward = [imp for imp in running_imports() if runs_up(imp)]
    unknown = list(dict.fromkeys(
        str(i) for i in upward if (i.importer, i.imported) not in KNOWN_UPWARD))
    assert not unknown, "imports running up the layers (docs/architecture.md, Layers):\n" + (
        "\n".join(unknown))


def test_the_allow_list_holds_no_fixed_entries() -> None:
    # An entry whose import is gone must be deleted, so the list only shrinks.
    upward = {(i.importer, i.imported) for i in running_imports() if runs_up(i)}
    assert not KNOWN_UPWARD - upward, f"fixed, delete from KNOWN_UPWARD: {KNOWN_UPWARD - upward}"


def test_no_import_cycles() -> None:
    found = cycles(running_imports())
    unknown = [sorted(c) for c in found if c not in KNOWN_CYCLES]
    assert not unknown, f"import cycles: {unknown}"
    assert set(KNOWN_CYCLES) <= set(found), "a known cycle is gone: delete it from KNOWN_CYCLES"


#: Helpers the handles load on first use, because a one-shot send never needs them
#: (bench/oneshot.py): (importer, imported). Each goes DOWN the layers; the cycle check above
#: reads function-level imports too, so none can hide a circle.
LOADED_ON_FIRST_USE = {("_models", "_app_cards"), ("_models", "_contacts"),
                       ("_models", "_parts"), ("_models", "_feature_values")}


@pytest.mark.parametrize("name", ["_models", "_events", "_polls", "_values", "_feature_values",
                                  "_history", "_responding", "_parts"])
def test_the_public_types_import_at_module_level(name: str) -> None:
    # Function-level imports were how the handles hid their circle with the helpers.
    hidden = list(dict.fromkeys(str(i) for i in imports_of(name) if i.in_function and (
        i.importer, i.imported) not in LOADED_ON_FIRST_USE))
    assert not hidden, hidden


def test_the_checker_sees_function_level_and_upward_imports() -> None:
    # The checker itself must be able to fail: a function-level import from a leaf up to
    # the client is found and judged upward; a TYPE_CHECKING one is marked as such.
    source = ("from typing import TYPE_CHECKING\n"
              "if TYPE_CHECKING:\n    from ._client import Client\n"
              "def f():\n    from . import _client\n")
    found = imports_of("_errors", source)
    assert [(i.imported, i.in_function, i.type_checking) for i in found] == [
        ("_client", False, True), ("_client", True, False)]
    assert runs_up(found[1])
    assert not runs_up(Import("_client", "_errors", 1, False, False))
    assert runs_up(Import("_client", "emulator.emulator", 1, False, False))
    assert not runs_up(Import("emulator.state", "_proto.common_pb2", 1, False, False))
    # The façade may use the client and the emulator's core; the core may not use the façade.
    assert not runs_up(Import("emulator.emulator", "__init__", 1, True, False))
    assert not runs_up(Import("emulator.emulator", "emulator.core", 1, False, False))
    assert runs_up(Import("emulator.core", "emulator.emulator", 1, False, False))
    assert runs_up(Import("emulator.gateway", "_client", 1, False, False))
    assert cycles([Import("_errors", "_client", 1, False, False),
                   Import("_client", "_errors", 1, False, False)]) == [
        frozenset({"_errors", "_client"})]


def test_the_architecture_diagram_follows_the_table() -> None:
    # docs/architecture.md draws the same layers, top first: every module of the table is in
    # the diagram, and each layer's first module is drawn above the layers below it.
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = doc.split("## Layers", 1)[1].split("\n## ", 1)[0]
    diagram = section.split("```", 2)[1]
    missing = [p for _, prefixes in LAYERS for p in prefixes if p not in diagram]
    assert not missing, f"not in docs/architecture.md's diagram: {missing}"
    drawn_at = [diagram.index(prefixes[0]) for _, prefixes in LAYERS]
    assert drawn_at == sorted(drawn_at, reverse=True), "layers drawn out of order"
