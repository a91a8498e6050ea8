"""Messages that teach: each says where the problem is and what to do about it."""

from __future__ import annotations

import gc
import inspect
import subprocess
import sys
import traceback
import warnings

import pytest

import spectrum_sync as spectrum
from spectrum_sync import Client
from spectrum_sync.emulator import Emulator


def test_already_receiving_says_how_to_end_the_first_loop(client: Client) -> None:
    with client.messages(), pytest.raises(spectrum.AlreadyReceiving) as info:
        client.events()
    message = str(info.value)
    assert "close the first inbox (inbox.close(), or leave its 'with' block)" in message
    assert "read it to its end" in message


def test_an_unclosed_client_is_reported_at_the_line_that_made_it(emu: Emulator) -> None:
    def forget() -> None:
        client = emu.client()
        client.phones  # noqa: B018 - a client that did something

    made_at = inspect.getsourcelines(forget)[1] + 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        forget()
        gc.collect()
    unclosed = [w for w in caught if issubclass(w.category, ResourceWarning)
                and "not closed" in str(w.message)]
    assert [(w.filename, w.lineno) for w in unclosed] == [(__file__, made_at)]


def test_public_classes_report_the_public_module() -> None:
    for name in spectrum.__all__:
        value = getattr(spectrum, name)
        if isinstance(value, type):
            assert value.__module__ == "spectrum_sync", name
    # An error raised inside the library reads as the name users catch, without their
    # having looked it up first (a fresh interpreter).
    code = ("import spectrum_sync\n"
            "try:\n"
            "    spectrum_sync.Client(project_id='p', project_secret='s').user('06 12 34 56 78')\n"
            "except Exception as exc:\n"
            "    print(type(exc).__module__, type(exc).__qualname__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.split() == ["spectrum_sync", "InvalidAddress"]
    try:
        raise spectrum.RoutingError("no line", [])
    except spectrum.RoutingError as exc:
        shown = "".join(traceback.format_exception_only(type(exc), exc))
    assert shown.startswith("spectrum_sync.RoutingError: no line")
