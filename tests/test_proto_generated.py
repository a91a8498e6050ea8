"""The committed generated modules must match protos/ (regenerate with protos/generate.py)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import grpc_tools
import pytest
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
PROTO_FILES = sorted((PROTO_ROOT / "photon" / "imessage" / "v1").glob("*.proto"))


def _compiled(tmp_path: Path) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    out = tmp_path / "set.pb"
    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{well_known}",
         f"--descriptor_set_out={out}", *(str(p.relative_to(PROTO_ROOT)) for p in PROTO_FILES)],
        check=True,
    )
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return {f.name: f for f in fds.file}


def _clear_json_names(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _clear_json_names(message.nested_type)


def test_protos_exist() -> None:
    assert [p.stem for p in PROTO_FILES] == [
        "addresses", "attachments", "chats", "common", "events", "groups", "locations",
        "messages", "polls",
    ]


@pytest.mark.parametrize("proto", [p.stem for p in PROTO_FILES])
def test_generated_module_is_current(proto: str, tmp_path: Path) -> None:
    fresh = _compiled(tmp_path)[f"photon/imessage/v1/{proto}.proto"]
    module = importlib.import_module(f"spectrum_sync._proto.{proto}_pb2")
    committed = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
    # Generated modules embed neither source info nor json names.
    fresh.ClearField("source_code_info")
    _clear_json_names(fresh.message_type)
    stale = f"spectrum_sync/_proto/{proto}_pb2.py is stale: run protos/generate.py"
    assert committed == fresh, stale


@pytest.mark.parametrize("proto", [p.stem for p in PROTO_FILES])
def test_generated_grpc_stubs_cover_every_service(proto: str) -> None:
    pb2 = importlib.import_module(f"spectrum_sync._proto.{proto}_pb2")
    grpc_mod = importlib.import_module(f"spectrum_sync._proto.{proto}_pb2_grpc")
    for name, service in pb2.DESCRIPTOR.services_by_name.items():
        stub = getattr(grpc_mod, f"{name}Stub")
        servicer = getattr(grpc_mod, f"{name}Servicer")
        for method in service.methods:
            assert hasattr(servicer, method.name), f"{name}.{method.name} missing: regenerate"
        assert stub is not None
