"""The sdist and the wheel, as ``python -m build`` makes them: complete, described, clean.

The sdist is a full source release (protos, docs, examples, benchmarks, tests, LICENSE): its
tests pass once unpacked. The wheel holds the package only, typed."""

from __future__ import annotations

import ast
import email
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from support.distributions import Built

ROOT = Path(__file__).resolve().parents[2]
# What MANIFEST.in puts in the sdist besides the package (source file types only).
SOURCE_TREES = {"protos": (".proto", ".py"), "docs": (".md", ".py", ".png"), "examples": (".py",),
                "bench": (".py",), "tests": (".py", ".mjs")}
TOP_FILES = ["LICENSE", "README.md", "pyproject.toml", "setup.cfg", ".ci/run", "noxfile.py",
             "CHANGELOG.md", "mkdocs.yml"]


def _sdist_names(built: Built) -> set[str]:
    with tarfile.open(built.sdist) as sdist:
        # Members are "<name>-<version>/<path>".
        return {m.name.split("/", 1)[1] for m in sdist.getmembers()
                if m.isfile() and "/" in m.name}


def _checkout_files(folder: str, suffixes: tuple[str, ...]) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*")
            if p.is_file() and p.suffix in suffixes and "__pycache__" not in p.parts
            and not any(part.startswith(".") for part in p.relative_to(ROOT).parts)}


def test_the_build_is_clean(built: Built) -> None:
    warnings = [line for line in built.output.splitlines() if "warning" in line.lower()]
    assert warnings == [], built.output
    pytest.importorskip("twine", reason="the test extra installs twine")
    proc = subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                           str(built.sdist), str(built.wheel)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_sdist_is_a_complete_source_release(built: Built) -> None:
    names = _sdist_names(built)
    missing = [f for f in TOP_FILES if f not in names]
    for folder, suffixes in SOURCE_TREES.items():
        missing += sorted(_checkout_files(folder, suffixes) - names)
    assert missing == [], f"missing from the sdist (see MANIFEST.in): {missing}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "protos/photon/imessage/v1/messages.proto" in names


def test_the_metadata_names_the_licence_and_the_project_urls(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        [path] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(wheel.read(path))
        licence = [n for n in wheel.namelist() if n.endswith("licenses/LICENSE")]
        assert licence and b"MIT License" in wheel.read(licence[0])
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License"] is None  # the deprecated free-text field is gone
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert {"Source", "Changelog", "Issues"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())
    assert metadata["Requires-Python"] == ">=3.9"


def test_the_wheel_holds_the_package_only(built: Built) -> None:
    names = zipfile.ZipFile(built.wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"spectrum_sync"}
    assert "spectrum_sync/_proto/messages_pb2.pyi" in names  # the generated stubs ship
    assert not [n for n in names if n.endswith(".pyc")]


def test_the_unpacked_sdist_passes_its_own_tests(built: Built, tmp_path: Path) -> None:
    with tarfile.open(built.sdist) as sdist:
        sdist.extractall(tmp_path, filter="data") if sys.version_info >= (3, 12) else (
            sdist.extractall(tmp_path))
    [tree] = tmp_path.iterdir()
    # The unpacked tree's own package, not the checkout's nor an installed one.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/unit", "tests/test_readme.py", "tests/test_proto_generated.py",
         "tests/client/test_client_users.py"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "error" not in proc.stdout.splitlines()[-1]
    assert str(tree / "spectrum_sync") in subprocess.run(
        [sys.executable, "-c", "import spectrum_sync; print(spectrum_sync.__file__)"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=60).stdout


def test_the_classifiers_list_the_pythons_the_matrix_tests(built: Built) -> None:
    """noxfile.py's PYTHONS are what .ci/run tests; the metadata claims exactly those."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    [tested] = [ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "PYTHONS" for t in node.targets)]
    with zipfile.ZipFile(built.wheel) as wheel:
        [path] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(wheel.read(path))
    prefix = "Programming Language :: Python :: "
    claimed = [c[len(prefix):] for c in metadata.get_all("Classifier")
               if c.startswith(prefix) and c[len(prefix):][0].isdigit() and "." in c]
    assert claimed == tested
    assert metadata["Requires-Python"] == f">={tested[0]}"
    assert f"Python {tested[0]}+" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_artefacts_carry_the_package_version(built: Built) -> None:
    tree = ast.parse((ROOT / "spectrum_sync" / "__init__.py").read_text(encoding="utf-8"))
    [version] = [ast.literal_eval(node.value) for node in tree.body
                 if isinstance(node, ast.Assign)
                 and any(getattr(t, "id", None) == "__version__" for t in node.targets)]
    assert built.wheel.name.startswith(f"spectrum_sync-{version}-")
    assert built.sdist.name == f"spectrum_sync-{version}.tar.gz"
