"""Fixtures of the local Mac mode tests: chat.db builders and the ``mac`` marker's skip."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The suite runs with --import-mode=importlib: make the helper modules importable.
sys.path.insert(0, str(Path(__file__).parent))

from chatdb_fixture import ChatDBFixture, MakeDB


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("mac") is not None and sys.platform != "darwin":
        pytest.skip("needs a real Mac (Messages, osascript, the user's chat.db)")


@pytest.fixture
def make_db(tmp_path: Path) -> Iterator[MakeDB]:
    """``make_db(name="chat.db", legacy=False, wal=True)`` builds an empty chat.db."""
    made: list[ChatDBFixture] = []

    def make(name: str = "chat.db", **kwargs: bool) -> ChatDBFixture:
        db = ChatDBFixture(tmp_path / name, **kwargs)
        made.append(db)
        return db

    yield make
    for db in made:
        db.close()
