"""The whole protocol is reachable: every RPC has a public caller and every field of the
protocol's Message is exposed or deliberately hidden (docs/behaviour.md holds both tables)."""

from __future__ import annotations

import re
from pathlib import Path

import attrs

import spectrum_sync as spectrum
from spectrum_sync._proto import messages_pb2
from spectrum_sync._spaces import SpaceAPI
from spectrum_sync._wire.convert import _FLAGS
from spectrum_sync._wire.rpc import all_rpcs

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "docs" / "behaviour.md").read_text(encoding="utf-8")
PACKAGE = ROOT / "spectrum_sync"
OWNERS = {"Client": spectrum.Client, "Space": spectrum.Space, "Message": spectrum.Message,
          "Poll": spectrum.Poll, "Attachment": spectrum.Attachment, "SpaceAPI": SpaceAPI}


def _section(title: str) -> str:
    start = DOCS.index(f"\n{title}\n")
    end = DOCS.find("\n## ", start + len(title) + 2)
    return DOCS[start:end if end > 0 else len(DOCS)]


def _rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("|---")]


def _rpc_table() -> dict[str, str]:
    rows = _rows(_section("## Protocol coverage"))
    return {rpc: name.strip("`") for rpc, name in rows[1:]}


def test_every_rpc_has_a_public_caller() -> None:
    table = _rpc_table()
    rpcs = {f"{rpc.service}/{rpc.name}" for rpc in all_rpcs()}
    assert sorted(rpcs - set(table)) == [], "RPCs that no public name calls"
    assert sorted(set(table) - rpcs) == [], "the table names RPCs the protocol does not have"
    library = "\n".join(path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py")
                        if "emulator" not in path.parts and "_proto" not in path.parts)
    for rpc, name in table.items():
        owner, _, attribute = name.partition(".")
        assert callable(getattr(OWNERS[owner], attribute, None)), f"{rpc}: no {name}"
        # The request type is built somewhere in the library (not only in the emulator).
        assert f"{rpc.split('/')[1]}Request" in library, f"{rpc}: never built by the library"


def _names(cell: str) -> list[str]:
    """The backticked names of a cell, leaving out what parentheses explain."""
    return re.findall(r"`([^`]+)`", re.sub(r"\([^)]*\)", "", cell))


def _message_tables() -> tuple[list[list[str]], list[list[str]]]:
    section = _section("### Every field of the protocol's Message")
    exposed_part, _, hidden_part = section.partition("Deliberately hidden")
    return _rows(exposed_part)[1:], _rows(hidden_part)[1:]


def _proto_names(cell: str) -> list[str]:
    out, prefix = [], ""
    for name in re.findall(r"`([^`]+)`", cell):
        if name.startswith("."):
            name = prefix + name
        elif "." in name:
            prefix = name.split(".")[0]
        out.append(name)
    return out


def test_every_message_field_is_exposed_or_hidden() -> None:
    exposed, hidden = _message_tables()
    shown = {n for row in exposed for n in _proto_names(row[0])}
    kept_back = {n for row in hidden for n in _proto_names(row[0])}
    assert not shown & kept_back, "a field both exposed and hidden"
    wanted = {f.name for f in messages_pb2.Message.DESCRIPTOR.fields if f.name != "content"}
    wanted |= {f"content.{f.name}" for f in messages_pb2.MessageContent.DESCRIPTOR.fields}
    assert sorted(wanted - shown - kept_back) == [], "fields neither exposed nor hidden"
    assert sorted((shown | kept_back) - wanted) == [], "the tables name unknown fields"


def test_every_exposed_name_exists_on_message() -> None:
    exposed, _ = _message_tables()
    fields = {f.name for f in attrs.fields(spectrum.Message)}
    for row in exposed:
        for name in _names(row[1]):
            assert name in fields or isinstance(getattr(spectrum.Message, name, None),
                                                property), f"Message has no {name!r}"
    # The flag names in the docs are those the library gives.
    flags_row = next(row for row in exposed if "`flags`" in row[1])
    assert re.findall(r"`([a-z_]+)`", flags_row[1])[1:] == [name for _, name in _FLAGS]

