"""Receiving makes the feed from what the backend exposes (spectrum_sync/_receive/feeds.py);
the backends build no receive feeds themselves."""

from __future__ import annotations

import pytest

from spectrum_sync import ConfigurationError, MemoryStore
from spectrum_sync._backend.cloud import CloudBackend
from spectrum_sync._backend.local import LocalBackend
from spectrum_sync._receive.cloud_feed import CloudFeed
from spectrum_sync._receive.feeds import make_feed
from spectrum_sync._receive.local_feed import ChatDBFeed


class Lines:
    lines = object()
    invoker = object()


class Messages:
    def __init__(self) -> None:
        self.opened = 0

    def open_chat_db(self) -> object:
        self.opened += 1
        return object()


def test_the_feed_follows_what_the_backend_exposes() -> None:
    cloud = make_feed(Lines(), MemoryStore(), 10.0)
    assert isinstance(cloud, CloudFeed) and cloud.lines is Lines.lines and cloud.fence is None
    messages = Messages()
    local = make_feed(messages, MemoryStore(), 10.0)
    assert isinstance(local, ChatDBFeed) and local.fence is None
    assert messages.opened == 0  # chat.db is opened when receiving starts, not before


def test_a_backend_without_sources_says_so() -> None:
    with pytest.raises(ConfigurationError, match="nothing to receive from"):
        make_feed(object(), MemoryStore(), 10.0)


def test_the_backends_build_no_feed() -> None:
    assert not hasattr(CloudBackend, "feed") and not hasattr(LocalBackend, "feed")
