"""Dispatch of every gRPC call: record, authenticate, inject faults, dedupe, run the handler.

Handlers are plain methods named after the RPC, taking ``(request, call)``; they raise
:class:`EmulatorError` for failures. Methods a service object does not define answer
UNIMPLEMENTED (after authentication, like any other call).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Union

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage
from google.protobuf.message_factory import GetMessageClass

from spectrum_sync.emulator.errors import EmulatorError, duplicate_message, invalid
from spectrum_sync.emulator.faults import FailRule
from spectrum_sync.emulator.state import LineState

if TYPE_CHECKING:
    from spectrum_sync.emulator.core import EmulatorCore

log = logging.getLogger("spectrum_sync.emulator")

IDEMPOTENCY_HEADER = "x-idempotency-key"


class _Unparsable:
    """Stands for request bytes that are not a valid message (grpcio treats a ``None``
    request as its own failure, so a marker object is needed)."""


_UNPARSABLE = _Unparsable()
Request = Union[ProtoMessage, _Unparsable]


class Call:
    """Per-call information handed to handlers next to the request."""

    __slots__ = ("context", "line", "metadata", "method")

    def __init__(self, method: str, line: LineState, context: grpc.ServicerContext,
                 metadata: dict[str, Any]) -> None:
        self.method = method
        self.line = line
        self.context = context
        self.metadata = metadata


def _is_read(method: str) -> bool:
    return method.startswith(("Get", "List", "Has"))


class Gateway:
    """Builds the generic gRPC handlers of the emulator's services."""

    def __init__(self, core: EmulatorCore) -> None:
        self._emu = core

    def method_handlers(self, descriptor: ServiceDescriptor, service: object,
                        ) -> dict[str, grpc.RpcMethodHandler[Any, Any]]:
        """Handlers for every method of ``descriptor``, served by ``service``."""
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        for method in descriptor.methods:
            request_cls = GetMessageClass(method.input_type)
            response_cls = GetMessageClass(method.output_type)
            impl = getattr(service, method.name, None)
            parse = _lenient_parser(request_cls)
            if method.server_streaming:
                handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                    self._streaming(method.name, impl), request_deserializer=parse,
                    response_serializer=response_cls.SerializeToString)
            else:
                handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                    self._unary(method.name, impl), request_deserializer=parse,
                    response_serializer=response_cls.SerializeToString)
        return handlers

    def _admit(self, method: str, request: Request,
               context: grpc.ServicerContext, streaming: bool,
               ) -> tuple[Call, ProtoMessage, FailRule | None]:
        """Record the call, check its token, apply delays and take a matching fault."""
        metadata = {k: v for k, v in context.invocation_metadata()}
        emu = self._emu
        parsed = None if isinstance(request, _Unparsable) else request
        emu.record(method, parsed, metadata)
        auth = metadata.get("authorization")
        line = emu.authenticate(auth if isinstance(auth, str) else None)
        if parsed is None:
            raise invalid("the request message could not be parsed")
        delay = emu.faults.delay_for(method)
        if delay > 0:
            emu.sleep(delay)
        rule = emu.faults.take(method, streaming)
        if rule is not None and not rule.after:
            raise rule.error
        return Call(method, line, context, metadata), parsed, rule

    def _unary(self, method: str, impl: Callable[..., Any] | None,
               ) -> Callable[[Request, grpc.ServicerContext], ProtoMessage]:
        emu = self._emu

        def handle(request: Request, context: grpc.ServicerContext,
                   ) -> ProtoMessage:
            try:
                call, parsed, rule = self._admit(method, request, context, streaming=False)
                if impl is None:
                    raise _unimplemented(method)
                with emu.lock:
                    response = self._run_idempotent(impl, parsed, call)
                if rule is not None:
                    raise rule.error
                return response
            except EmulatorError as err:
                err.abort(context)
            except Exception:
                log.exception("emulator handler %s failed", method)
                EmulatorError(grpc.StatusCode.INTERNAL, "internalError",
                              "internal emulator error").abort(context)
            raise AssertionError("unreachable")  # pragma: no cover - abort raises

        return handle

    def _run_idempotent(self, impl: Callable[..., ProtoMessage], request: ProtoMessage,
                        call: Call) -> ProtoMessage:
        """As the service dedupes writes: a repeated ``x-idempotency-key`` (a retry of one
        logical call) gets the original response, within the emulator's
        ``idempotency_window``; a repeated ``client_message_id`` (a new call that repeats
        an earlier one, e.g. after a restart) is refused with ``duplicateMessage``, which
        means the original went through."""
        if _is_read(call.method):
            return impl(request, call)
        line, now = call.line, self._emu.clock.now()
        header = call.metadata.get(IDEMPOTENCY_HEADER)
        header_key = ("key", call.method, str(header)) if header else None
        if header_key is not None:
            cached = line.idempotency.get(header_key)
            if cached is not None and now - cached[1] < self._emu.idempotency_window:
                return cached[0]
        cmid_key = None
        if "client_message_id" in request.DESCRIPTOR.fields_by_name and request.HasField(
                "client_message_id"):
            cmid = str(getattr(request, "client_message_id", ""))
            cmid_key = ("cmid", call.method, cmid)
            if cmid_key in line.idempotency:
                raise duplicate_message(cmid)
        response = impl(request, call)
        for key in (header_key, cmid_key):
            if key is not None:
                line.remember(key, response, now)
        return response

    def _streaming(self, method: str, impl: Callable[..., Any] | None,
                   ) -> Callable[[Request, grpc.ServicerContext],
                             Iterator[ProtoMessage]]:
        def handle(request: Request, context: grpc.ServicerContext,
                   ) -> Iterator[ProtoMessage]:
            try:
                call, parsed, rule = self._admit(method, request, context, streaming=True)
                if rule is not None:  # a lost stream: fail before the first frame
                    raise rule.error
                if impl is None:
                    raise _unimplemented(method)
                yield from impl(parsed, call)
            except EmulatorError as err:
                err.abort(context)
            except grpc.RpcError:  # the call is already over (e.g. cancelled by the client)
                return
            except Exception:
                log.exception("emulator stream %s failed", method)
                EmulatorError(grpc.StatusCode.INTERNAL, "internalError",
                              "internal emulator error").abort(context)

        return handle


def _lenient_parser(cls: type[ProtoMessage]) -> Callable[[bytes], Request]:
    """Parse a request; bytes that are not one are answered INVALID_ARGUMENT later
    (grpcio itself would answer INTERNAL)."""

    def parse(data: bytes) -> Request:
        try:
            return cls.FromString(data)
        except DecodeError:
            return _UNPARSABLE

    return parse


def _unimplemented(method: str) -> EmulatorError:
    return EmulatorError(grpc.StatusCode.UNIMPLEMENTED, "operationNotSupported",
                         f"{method} is not implemented by the emulator")
