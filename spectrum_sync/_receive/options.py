"""Receive tuning (:class:`ReceiveOptions`) and the event families."""

from __future__ import annotations

from typing import Any, Callable

import attrs
from google.protobuf.message import Message as ProtoMessage

from .._errors import ConfigurationError
from .._validate import positive_number

__all__ = ["CHATS", "FAMILIES", "GROUPS", "MESSAGES", "POLLS", "Family", "ReceiveOptions",
           "family"]

MESSAGES, GROUPS, POLLS, CHATS = "messages", "groups", "polls", "chats"


@attrs.frozen
class Family:
    """One event family: the request that subscribes to it, and the oneof field that holds
    its payload in live frames and in ``CatchUpEventsResponse``."""

    name: str
    request: Callable[[], ProtoMessage]
    field: str


def _message_request() -> ProtoMessage:
    from .._proto import messages_pb2

    return messages_pb2.SubscribeMessageEventsRequest()


def _group_request() -> ProtoMessage:
    from .._proto import groups_pb2

    return groups_pb2.SubscribeGroupEventsRequest()


def _chat_request() -> ProtoMessage:
    from .._proto import chats_pb2

    return chats_pb2.SubscribeChatEventsRequest()


def _poll_request() -> ProtoMessage:
    from .._proto import polls_pb2

    return polls_pb2.SubscribePollEventsRequest()


FAMILIES: dict[str, Family] = {
    MESSAGES: Family(MESSAGES, _message_request, "message_changed"),
    GROUPS: Family(GROUPS, _group_request, "group_changed"),
    POLLS: Family(POLLS, _poll_request, "poll_changed"),
    CHATS: Family(CHATS, _chat_request, "chat_changed"),
}


def family(name: str) -> Family:
    return FAMILIES[name]


def _positive(**bounds: Any) -> Callable[[Any, Any, Any], None]:
    def check(instance: Any, attribute: Any, value: Any) -> None:
        positive_number(f"ReceiveOptions.{attribute.name}", value, **bounds)

    return check


def _families(value: Any) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else value
    try:
        names = tuple(names)
    except TypeError:
        raise ConfigurationError(
            f"ReceiveOptions.families takes names such as {list(FAMILIES)}, not {value!r}"
        ) from None
    unknown = [n for n in names if n not in FAMILIES]
    if unknown or not names:
        raise ConfigurationError(
            f"ReceiveOptions.families: unknown or no families {unknown}; use some of "
            f"{list(FAMILIES)}")
    return names


def _history(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"ReceiveOptions.history must be a bool, not {value!r}")


@attrs.frozen
class ReceiveOptions:
    """Tuning of receiving (every value is checked when the object is made).

    ``queue_size``: events buffered between the streams and the consumer (a slow consumer
    slows reading instead of growing memory). ``stall_timeout``: seconds without any frame
    (heartbeats included) before a stream is restarted. ``backoff_initial`` /
    ``backoff_max``: reconnect delays. ``refresh_after_failures``: consecutive failed
    reconnects that force a token refresh. ``dedupe_size``: event keys remembered to drop
    redeliveries. ``families``: which streams to read. ``history``: with no cursor at all,
    deliver what the server still holds (True) or start live. ``commit_interval``: seconds
    over which acknowledged cursors are batched into one store write. ``lease_ttl``: with a
    shared store (Redis), how long a receiver holds a line without renewing it; a standby
    receiver takes the line over within about that long after its holder died.
    """

    queue_size: int = attrs.field(default=1000, validator=_positive(integer=True,
                                                                     maximum=1_000_000))
    stall_timeout: float = attrs.field(default=90.0, validator=_positive(maximum=86_400))
    backoff_initial: float = attrs.field(default=0.5, validator=_positive(maximum=3600))
    backoff_max: float = attrs.field(default=30.0, validator=_positive(maximum=3600))
    refresh_after_failures: int = attrs.field(default=5, validator=_positive(
        integer=True, maximum=1_000_000))
    dedupe_size: int = attrs.field(default=10_000, validator=_positive(integer=True,
                                                                       maximum=10_000_000))
    families: tuple[str, ...] = attrs.field(default=(MESSAGES, GROUPS, POLLS, CHATS),
                                            converter=_families)
    history: bool = attrs.field(default=False, validator=_history)
    commit_interval: float = attrs.field(default=0.05, validator=_positive(
        allow_zero=True, maximum=60))
    lease_ttl: float = attrs.field(default=10.0, validator=_positive(maximum=300))

    def __attrs_post_init__(self) -> None:
        if self.lease_ttl < 1:
            raise ConfigurationError("ReceiveOptions.lease_ttl must be at least 1 second")
        if self.backoff_max < self.backoff_initial:
            raise ConfigurationError(
                "ReceiveOptions.backoff_max must not be smaller than backoff_initial")
