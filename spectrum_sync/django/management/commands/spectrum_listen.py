"""``manage.py spectrum_listen``: receive events and run the ``@on_message`` /
``@on_event`` handlers until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from spectrum_sync._errors import SpectrumError
from spectrum_sync.django.registry import make_client, receive_handlers


def _with_db(handler: Callable[..., object]) -> Callable[[Any], object]:
    """Run a handler as Django runs a request: stale database connections (past
    CONN_MAX_AGE, or broken) are closed before and after, so a long-lived listener never
    keeps using a connection the database has dropped."""

    def run(event: Any) -> object:
        close_old_connections()
        try:
            return handler(event)
        finally:
            close_old_connections()

    run.__name__ = getattr(handler, "__name__", "handler")
    run.__qualname__ = getattr(handler, "__qualname__", run.__name__)
    return run


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):  # type: ignore[misc]
    help = ("Receive Spectrum events and run the handlers registered with "
            "@spectrum_sync.django.on_message / on_event. SIGINT or SIGTERM stops it.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=1,
                            help="handler threads (order is kept within each chat)")
        parser.add_argument("--include-own", action="store_true",
                            help="also deliver our own sends echoed by the server")

    def handle(self, *args: Any, **options: Any) -> None:
        handlers = receive_handlers()
        if not handlers:
            raise CommandError(
                "no handlers registered: decorate functions with "
                "@spectrum_sync.django.on_message or @on_event(kind) in "
                "<app>/spectrum_handlers.py, or list their modules in SPECTRUM['HANDLERS']")
        # Until the receive loop installs its own handlers, SIGTERM stops as Ctrl-C does.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        client = None
        try:
            client = make_client()
            for kinds, handler in handlers:
                client.on_event(*kinds)(_with_db(handler))
            phones = ", ".join(client.phones)
            self.stdout.write(f"Listening on {phones} with {len(handlers)} handler(s); "
                              "Ctrl-C to stop")
            self.stdout.flush()
            client.run_forever(workers=options["workers"],
                               include_own=options["include_own"])
        except KeyboardInterrupt:
            pass
        except SpectrumError as exc:
            raise CommandError(str(exc)) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
            if client is not None:
                client.close()
        self.stdout.write("Stopped")
        sys.stdout.flush()
