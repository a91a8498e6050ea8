"""gRPC channels: TLS or plaintext, keepalive and message sizes as the service expects."""

from __future__ import annotations

from typing import Any

import grpc

__all__ = ["ChannelFactory", "channel_options"]

MAX_MESSAGE_BYTES = 100 * 1024 * 1024
KEEPALIVE_TIME_MS = 30_000
KEEPALIVE_TIMEOUT_MS = 20_000
MAX_RECONNECT_BACKOFF_MS = 5_000
# grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, spelled out: importing
# grpc.experimental costs several milliseconds at import time.
SINGLE_THREADED_STREAMS = "SingleThreadedUnaryStream"


def channel_options(streams: bool = False) -> list[tuple[str, Any]]:
    """Keepalive pings every 30 s (20 s timeout, allowed without calls), 100 MiB messages;
    ``streams``: the channel of a line's event streams (see :class:`ChannelFactory`)."""
    options: list[tuple[str, Any]] = [
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        # After an outage, reconnect within seconds rather than grpc's 120 s maximum.
        ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
        # Own subchannels: the unary and the stream channel of a line must not share one
        # HTTP/2 connection (grpcio pools them globally by default).
        ("grpc.use_local_subchannel_pool", 1),
    ]
    if streams:
        options.append((SINGLE_THREADED_STREAMS, 1))
    return options


class ChannelFactory:
    """Creates channels: TLS (system roots or ``root_certificates``) or plaintext.

    A line's stream channel (``streams=True``) reads its server streams in grpcio's
    single-threaded mode: the thread iterating a stream takes its frames from gRPC core
    itself, instead of being woken by the channel's own polling thread for each one. That
    saves a thread handoff per received event (about a quarter of the CPU an event costs)
    and one thread per line; docs/architecture.md, "One thread per stream", has the figures.
    """

    # A plain class (as LineSpec and Grant are tuples): attrs' class creation would be a
    # one-shot script's cost for nothing (bench/oneshot.py).
    __slots__ = ("root_certificates",)

    def __init__(self, root_certificates: bytes | None = None) -> None:
        self.root_certificates = root_certificates

    def __repr__(self) -> str:
        roots = "given" if self.root_certificates is not None else "system"
        return f"ChannelFactory(roots={roots})"

    def create(self, address: str, tls: bool, *, streams: bool = False) -> grpc.Channel:
        options = channel_options(streams)
        if tls:
            creds = grpc.ssl_channel_credentials(root_certificates=self.root_certificates)
            return grpc.secure_channel(address, creds, options=options)
        return grpc.insecure_channel(address, options=options)
