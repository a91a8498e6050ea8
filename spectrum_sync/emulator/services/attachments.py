"""AttachmentService: single-shot upload, metadata, chunked download."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator

from spectrum_sync._proto import attachments_pb2
from spectrum_sync.emulator.errors import invalid, not_found
from spectrum_sync.emulator.gateway import Call
from spectrum_sync.emulator.guids import new_guid
from spectrum_sync.emulator.services.common import Service
from spectrum_sync.emulator.state import AttachmentRecord, LineState, copy

CHUNK_SIZE = 64 * 1024
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_UTIS = {"image/jpeg": "public.jpeg", "image/png": "public.png", "image/gif": "com.compuserve.gif",
         "text/plain": "public.plain-text", "application/pdf": "com.adobe.pdf",
         "video/mp4": "public.mpeg-4", "audio/mp4": "public.mpeg-4-audio"}


def clean_file_name(name: str) -> str:
    """Strip path parts and control characters, as the real server does."""
    base = re.split(r"[\\/]", name)[-1]
    return _UNSAFE.sub("", base).strip() or "attachment"


def store_attachment(line: LineState, file_name: str, data: bytes, *, outgoing: bool,
                     companion: attachments_pb2.Companion | None = None) -> AttachmentRecord:
    """Keep a file on the line and describe it."""
    name = clean_file_name(file_name)
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    info = attachments_pb2.AttachmentInfo(
        guid=new_guid(), file_name=name, mime_type=mime, uti=_UTIS.get(mime, "public.data"),
        total_bytes=len(data), is_outgoing=outgoing,
        transfer_state=attachments_pb2.TRANSFER_STATE_FINISHED)
    record = AttachmentRecord(info, bytes(data))
    if companion is not None and companion.data:
        record.companion = bytes(companion.data)
        record.companion_info = attachments_pb2.CompanionInfo(
            file_name=name.rsplit(".", 1)[0] + ".mov", mime_type="video/quicktime",
            total_bytes=len(companion.data), kind=companion.kind)
        info.companion_kind = companion.kind
    line.attachments[info.guid] = record
    return record


class AttachmentService(Service):
    """photon.imessage.v1.AttachmentService."""

    def _record(self, call: Call, guid: str) -> AttachmentRecord:
        if not guid:
            raise invalid("attachment_guid is required", field="attachment_guid")
        record = call.line.attachments.get(guid)
        if record is None:
            raise not_found("attachmentNotFound", f"attachment {guid!r} not found",
                            attachmentGuid=guid)
        return record

    def UploadAttachment(self, request: attachments_pb2.UploadAttachmentRequest, call: Call,
                         ) -> attachments_pb2.UploadAttachmentResponse:
        if not request.data:
            raise invalid("data is empty", field="data")
        call.line.quota.charge_upload(self.emu.clock, call.line.name, self.emu.throttles)
        companion = request.companion if request.HasField("companion") else None
        record = store_attachment(call.line, request.file_name, request.data, outgoing=True,
                                  companion=companion)
        out = attachments_pb2.UploadAttachmentResponse(attachment=copy(record.info))
        if record.companion_info is not None:
            out.companion.CopyFrom(record.companion_info)
        return out

    def GetAttachmentInfo(self, request: attachments_pb2.GetAttachmentInfoRequest, call: Call,
                          ) -> attachments_pb2.GetAttachmentInfoResponse:
        record = self._record(call, request.attachment_guid)
        return attachments_pb2.GetAttachmentInfoResponse(attachment=copy(record.info))

    def DownloadAttachment(self, request: attachments_pb2.DownloadAttachmentRequest, call: Call,
                           ) -> Iterator[attachments_pb2.DownloadAttachmentResponse]:
        with self.emu.lock:
            record = self._record(call, request.attachment_guid)
            header = attachments_pb2.DownloadHeader(attachment=copy(record.info))
            if record.companion_info is not None:
                header.companion.CopyFrom(record.companion_info)
        yield attachments_pb2.DownloadAttachmentResponse(header=header)
        data = record.data  # bytes are immutable: safe to stream without the lock
        for start in range(0, len(data), CHUNK_SIZE):
            yield attachments_pb2.DownloadAttachmentResponse(
                primary_chunk=data[start:start + CHUNK_SIZE])
        if record.companion:
            for start in range(0, len(record.companion), CHUNK_SIZE):
                yield attachments_pb2.DownloadAttachmentResponse(
                    companion_chunk=record.companion[start:start + CHUNK_SIZE])
