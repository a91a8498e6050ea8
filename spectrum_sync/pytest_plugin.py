"""pytest fixtures to test your own code against the embedded emulator.

Installing spectrum-sync registers this plugin with pytest (entry point ``pytest11``), so a
project's tests get these fixtures with no configuration (function scope, torn down after
each test):

- ``spectrum_emulator``: a running :class:`~spectrum_sync.emulator.Emulator` on free local
  ports. Its options come from the marker ``@pytest.mark.spectrum_emulator(plan="shared")``
  (any ``Emulator`` keyword argument; on a test, a class or a module's ``pytestmark``, the
  closest winning) or from your own ``spectrum_emulator_options`` fixture.
- ``spectrum_client``: a :class:`~spectrum_sync.Client` bound to it, closed after the test;
  keyword arguments from a ``spectrum_client_options`` fixture of yours.
- ``spectrum_env``: the ``SPECTRUM_*`` environment variables pointing at the emulator, set
  for the test (and restored after), for code that builds its own ``Client()``.

And a helper, :func:`wait_for_message`: the next message matching a text or a predicate, or
the test fails within ``timeout`` listing what arrived instead (a test never hangs waiting).

With ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` set, load it with ``-p spectrum_sync.pytest_plugin``
(or ``pytest_plugins = ["spectrum_sync.pytest_plugin"]`` in a root ``conftest.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Callable, Union

import pytest

from spectrum_sync._envnames import EMULATOR_UI

if TYPE_CHECKING:  # the emulator and the client load when a test asks for them
    from spectrum_sync import Client, Inbox, Message
    from spectrum_sync.emulator import Emulator

__all__ = [
    "spectrum_client",
    "spectrum_client_options",
    "spectrum_emulator",
    "spectrum_emulator_options",
    "spectrum_env",
    "wait_for_message",
]

MARKER = "spectrum_emulator"

#: Set (to anything but empty or 0), the same as ``--spectrum-ui``.
UI_VARIABLE = EMULATOR_UI


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("spectrum_sync").addoption(
        "--spectrum-ui", action="store_true", default=False,
        help="print the address of each spectrum_emulator's web page (to watch a test's "
             f"conversations in a browser; also: {UI_VARIABLE}=1)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): keyword arguments of the spectrum_emulator fixture's "
        "Emulator (plan='shared', lines=[...], heartbeat_interval=..., ...)")


@pytest.fixture
def spectrum_emulator_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Keyword arguments of the ``spectrum_emulator`` fixture's ``Emulator``: those of the
    ``spectrum_emulator`` markers (the one closest to the test wins). Override this fixture
    to set them for a whole module or folder."""
    options: dict[str, Any] = {}
    # iter_markers yields the closest first: apply the farthest first, then the closer ones.
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        if marker.args:
            pytest.fail(f"@pytest.mark.{MARKER} takes keyword arguments only (those of "
                        f"Emulator), not {marker.args!r}", pytrace=False)
        options.update(marker.kwargs)
    return options


@pytest.fixture
def spectrum_emulator(spectrum_emulator_options: dict[str, Any],
                      request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A running emulator of Spectrum Cloud (default: dedicated plan, one line
    +15550000001), stopped after the test."""
    from spectrum_sync.emulator import Emulator

    try:
        emulator = Emulator(**spectrum_emulator_options)
    except (TypeError, ValueError) as exc:
        pytest.fail(f"spectrum_emulator options {spectrum_emulator_options!r}: {exc}",
                    pytrace=False)
    with emulator:
        if request.config.getoption("spectrum_ui") or os.environ.get(
                UI_VARIABLE, "") not in ("", "0"):
            _show(request.config, f"{request.node.nodeid}: emulator web page "
                                  f"{emulator.ui_url}")
        yield emulator


def _show(config: pytest.Config, line: str) -> None:
    """Print ``line`` on the terminal at once, even while pytest captures the test's output."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
        reporter.write_line(line)


@pytest.fixture
def spectrum_client_options() -> dict[str, Any]:
    """Keyword arguments of the ``spectrum_client`` fixture's ``Client`` (default: none).
    Override this fixture to set them (``timeout``, ``state``, ``receive``...)."""
    return {}


@pytest.fixture
def spectrum_client(spectrum_emulator: Emulator, spectrum_client_options: dict[str, Any]
                    ) -> Iterator[Client]:
    """A client bound to ``spectrum_emulator``, closed after the test."""
    from spectrum_sync import Client

    options = dict(spectrum_client_options)
    # The developer's own SPECTRUM_* variables (a CA file for the real cloud...) stay out.
    options.setdefault("env", {})
    with Client.connect_emulator(spectrum_emulator, **options) as client:
        yield client


@pytest.fixture
def spectrum_env(spectrum_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
                 ) -> dict[str, str]:
    """Sets the ``SPECTRUM_*`` variables a ``Client()`` reads so that it reaches
    ``spectrum_emulator`` (restored after the test); returns them."""
    # The client settings read from the environment (the settings table) must not point a
    # test at the real cloud.
    from spectrum_sync._config import CLIENT_ENV

    env = spectrum_emulator.env()
    for name in CLIENT_ENV:
        if name not in env:
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


#: What :func:`wait_for_message` looks for: a message's exact text, or a predicate.
MessageMatch = Union[str, "Callable[[Message], bool]", None]


def wait_for_message(inbox: Inbox[Any], match: MessageMatch = None, *,
                     timeout: float = 10.0) -> Message:
    """The next message from ``inbox`` whose text is ``match`` (or for which ``match(msg)``
    is true; None: any message), waiting at most ``timeout`` seconds.

    Other events and messages are consumed on the way. When none matches in time the test
    fails with what did arrive, instead of hanging. Raises what ``inbox.get()`` raises
    (:class:`~spectrum_sync.ClientClosed`, :class:`~spectrum_sync.ValidationError` for a bad
    ``timeout``)."""
    from spectrum_sync import Message
    from spectrum_sync._cli.events import as_text

    deadline = time.monotonic() + timeout
    arrived: list[str] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            event = inbox.get(timeout=left)
        except TimeoutError:
            break
        if isinstance(event, Message) and _matches(event, match):
            return event
        arrived.append(as_text(event))
    wanted = "message" if match is None else f"message matching {match!r}"
    seen = "".join(f"\n  {line}" for line in arrived) if arrived else " nothing"
    pytest.fail(f"no {wanted} within {timeout:g} s; arrived:{seen}", pytrace=False)


def _matches(message: Message, match: MessageMatch) -> bool:
    if match is None:
        return True
    if isinstance(match, str):
        return message.text == match
    return bool(match(message))
