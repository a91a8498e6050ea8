"""AttachmentService (upload, info, chunked download) and AddressService lookups."""

from __future__ import annotations

import grpc
import pytest
from emu_helpers import ALICE, BOB, LINE_A, Api, rpc_error, trailers

from spectrum_sync._proto import (
    addresses_pb2,
    attachments_pb2,
    chats_pb2,
    common_pb2,
    messages_pb2,
)
from spectrum_sync.emulator import Emulator
from spectrum_sync.emulator.services.attachments import CHUNK_SIZE

BIG = bytes(range(256)) * (CHUNK_SIZE // 128)  # two full chunks and a bit
BIG += b"tail"


def lookup(address: str) -> addresses_pb2.GetAddressInfoRequest:
    return addresses_pb2.GetAddressInfoRequest(address=address)


def upload(api: Api, name: str, data: bytes) -> attachments_pb2.AttachmentInfo:
    return api.attachments.UploadAttachment(attachments_pb2.UploadAttachmentRequest(
        file_name=name, data=data), metadata=api.md).attachment


def download(api: Api, guid: str) -> tuple[attachments_pb2.DownloadHeader, bytes]:
    frames = list(api.attachments.DownloadAttachment(
        attachments_pb2.DownloadAttachmentRequest(attachment_guid=guid), metadata=api.md))
    assert frames[0].WhichOneof("payload") == "header"
    assert all(f.WhichOneof("payload") == "primary_chunk" for f in frames[1:])
    assert len(frames) > 2
    return frames[0].header, b"".join(f.primary_chunk for f in frames[1:])


def test_upload_send_download(api: Api) -> None:
    info = upload(api, "../../etc/photo\x07.png", BIG)
    assert info.file_name == "photo.png" and info.mime_type == "image/png"
    assert info.total_bytes == len(BIG)
    assert info.transfer_state == attachments_pb2.TRANSFER_STATE_FINISHED
    got = api.attachments.GetAttachmentInfo(attachments_pb2.GetAttachmentInfoRequest(
        attachment_guid=info.guid), metadata=api.md).attachment
    assert got == info
    header, data = download(api, info.guid)
    assert header.attachment.guid == info.guid and data == BIG
    chat = api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[ALICE]),
                                metadata=api.md).chat.guid
    msg = api.messages.SendAttachmentMessage(messages_pb2.SendAttachmentMessageRequest(
        chat_guid=chat, attachment=messages_pb2.AttachmentRef(
            attachment_guid=info.guid, attachment_name="renamed.png")),
        metadata=api.md).message
    assert msg.content.attachments[0].guid == info.guid
    assert msg.content.attachments[0].file_name == "renamed.png"
    assert msg.content.attachments[0].is_outgoing


def test_attachment_errors(api: Api) -> None:
    err = rpc_error(lambda: api.attachments.GetAttachmentInfo(
        attachments_pb2.GetAttachmentInfoRequest(attachment_guid="NOPE"), metadata=api.md))
    assert trailers(err)["error-code"] == "attachmentNotFound"
    err = rpc_error(lambda: download(api, "NOPE"))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = rpc_error(lambda: upload(api, "empty.txt", b""))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    chat = api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[ALICE]),
                                metadata=api.md).chat.guid
    for ref in (messages_pb2.AttachmentRef(attachment_guid="NOPE"),
                messages_pb2.AttachmentRef(attachment_path="/tmp/x.png")):
        err = rpc_error(lambda r=ref: api.messages.SendAttachmentMessage(
            messages_pb2.SendAttachmentMessageRequest(chat_guid=chat, attachment=r),
            metadata=api.md))
        assert err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


def test_inbound_attachment_can_be_downloaded(emu: Emulator, api: Api) -> None:
    guid = emu.simulate_inbound(ALICE, None, attachment=("doc.pdf", b"%PDF-1.4"), line=LINE_A)
    msg = api.messages.GetMessage(messages_pb2.GetMessageRequest(message_guid=guid),
                                  metadata=api.md).message
    att = msg.content.attachments[0]
    assert att.mime_type == "application/pdf" and not att.is_outgoing
    frames = list(api.attachments.DownloadAttachment(
        attachments_pb2.DownloadAttachmentRequest(attachment_guid=att.guid), metadata=api.md))
    assert b"".join(f.primary_chunk for f in frames[1:]) == b"%PDF-1.4"


def test_address_info_defaults(api: Api) -> None:
    info = api.addresses.GetAddressInfo(lookup(ALICE), metadata=api.md).info
    assert info == common_pb2.MultiServiceAddressInfo(
        address=ALICE, services=[common_pb2.CHAT_SERVICE_TYPE_IMESSAGE], country="US")
    uk = api.addresses.GetAddressInfo(lookup("+44 7700 900123"), metadata=api.md).info
    assert (uk.address, uk.country) == ("+447700900123", "GB")
    mail = api.addresses.GetAddressInfo(lookup("Bob@Example.com"), metadata=api.md).info
    assert mail.address == "bob@example.com" and not mail.HasField("country")


def test_address_directory_overrides(emu: Emulator, api: Api) -> None:
    emu.set_address(BOB, services=("SMS", "RCS"), country="CA")
    emu.set_address("nobody@example.com", services=())
    emu.set_address(ALICE, focused=True)
    info = api.addresses.GetAddressInfo(lookup(BOB), metadata=api.md).info
    assert list(info.services) == [common_pb2.CHAT_SERVICE_TYPE_SMS,
                                   common_pb2.CHAT_SERVICE_TYPE_RCS]
    assert info.country == "CA"
    err = rpc_error(lambda: api.addresses.GetAddressInfo(lookup("nobody@example.com"),
                                                         metadata=api.md))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert trailers(err)["error-code"] == "addressNotFound"

    def available(address: str) -> bool:
        return api.addresses.GetIMessageAvailability(
            addresses_pb2.GetIMessageAvailabilityRequest(address=address),
            metadata=api.md).is_available

    assert available(ALICE) and not available(BOB)
    assert api.addresses.GetFocusStatus(addresses_pb2.GetFocusStatusRequest(address=ALICE),
                                        metadata=api.md).is_silenced_by_focus
    with pytest.raises(ValueError):
        emu.set_address(ALICE, services=("Carrier pigeon",))


@pytest.mark.parametrize("address", ["", "   ", "hello", "+1", "a@b", "+999999999999999999"])
def test_bad_addresses(api: Api, address: str) -> None:
    err = rpc_error(lambda: api.addresses.GetAddressInfo(lookup(address),
                                                         metadata=api.md))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(err)["error-code"] == "invalidArgument"
