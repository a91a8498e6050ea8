"""What the Flask and Django integrations share: settings → client arguments, and one lazily
made client per process.

Settings are the rows of the settings table (``_config.SETTINGS``), named like the
environment variables without the ``SPECTRUM_`` prefix (``PROJECT_ID``, ``PROJECT_SECRET``,
``CLOUD_URL``, ``IMESSAGE_ADDRESS``, ``IMESSAGE_ADDRESS_TEMPLATE``, ``IMESSAGE_TLS``,
``TLS_CA_FILE``, ``STATE``, ``TIMEOUT``, ``DEFAULT_REGION``, ``QUOTA_LIMITS``, ``RETRY``,
``RECEIVE``, ``LINES``, ``WEBHOOK_SECRET``, ...); whatever a setting leaves out comes from
the environment, as with a plain ``Client()``.
Nothing here imports a web framework.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable

from ._config import BY_NAME, SETTINGS
from ._errors import ConfigurationError

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["CLIENT_SETTINGS", "ClientHolder", "client_kwargs", "has_credentials",
           "health_report", "webhook_secret"]

log = logging.getLogger("spectrum_sync.integrations")

#: Setting name → ``Client`` keyword argument (from the one settings table, ``_config.py``).
CLIENT_SETTINGS = {s.name: s.keyword for s in SETTINGS if s.keyword}
#: Settings of Django's ``SPECTRUM`` dict that are not client arguments.
OTHER_SETTINGS = tuple(s.name for s in SETTINGS if s.keyword is None and s.django)


def client_kwargs(settings: Mapping[str, Any],
                  env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``Client`` keyword arguments from settings (names without the prefix); absent ones
    are left to the client, which reads the environment. Settings a plain ``Client()`` does
    not read from the environment (``STATE``, ``TIMEOUT``), but an app's deployment naturally
    sets there, are read from it here."""
    environ = os.environ if env is None else env
    kwargs: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.keyword is None:
            continue
        value = settings.get(setting.name)
        if value is None and setting.env and not setting.client_env:
            value = environ.get(setting.env) or None
        if value is None:
            continue
        if setting.parse is not None:
            value = setting.parse(setting.name, value)
        kwargs[setting.keyword] = value
    if env is not None:
        kwargs["env"] = env
    return kwargs


def _from_env(name: str, environ: Mapping[str, str]) -> str | None:
    env = BY_NAME[name].env
    return (environ.get(env) or None) if env else None


def has_credentials(settings: Mapping[str, Any], env: Mapping[str, str] | None = None) -> bool:
    """Whether a client could be made: project credentials (settings or environment) or
    explicit lines."""
    environ = os.environ if env is None else env
    if settings.get("LINES"):
        return True
    return all(settings.get(name) or _from_env(name, environ)
               for name in ("PROJECT_ID", "PROJECT_SECRET"))


def webhook_secret(settings: Mapping[str, Any],
                   env: Mapping[str, str] | None = None) -> str | list[str] | None:
    """The webhook signing secret (a list during a rotation): the ``WEBHOOK_SECRET``
    setting, else its environment variable."""
    value = settings.get("WEBHOOK_SECRET")
    if value:
        return value if isinstance(value, str) else [str(v) for v in value]
    return _from_env("WEBHOOK_SECRET", os.environ if env is None else env)


class ClientHolder:
    """One client, made on first use from ``factory`` and shared by every thread.

    Nothing is made at import or configuration time, so an app imports (and ``manage.py
    check`` runs) without credentials. A client made before a fork (gunicorn ``--preload``)
    keeps working in every child: the client rebuilds its channels and threads per process.
    Closed at interpreter exit."""

    def __init__(self, factory: Callable[[], Client]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._client: Client | None = None
        _holders.add(self)

    def _locked(self) -> threading.Lock:
        if os.getpid() != self._pid:  # a lock copied by fork may be held by a lost thread
            self._pid = os.getpid()
            self._lock = threading.Lock()
        return self._lock

    def get(self) -> Client:
        """The client, made now if needed (``ConfigurationError`` without credentials)."""
        client = self._client
        if client is not None:
            return client
        with self._locked():
            if self._client is None:
                self._client = self._factory()
            return self._client

    def peek(self) -> Client | None:
        """The client if it was made already (never makes one)."""
        return self._client

    def get_or_none(self) -> Client | None:
        """The client, or None when it cannot be made for lack of configuration."""
        try:
            return self.get()
        except ConfigurationError:
            return None

    def close(self) -> None:
        """Close the client (a later use makes a new one)."""
        with self._locked():
            client, self._client = self._client, None
        if client is not None:
            client.close()


_holders: weakref.WeakSet[ClientHolder] = weakref.WeakSet()


def health_report(holder: ClientHolder) -> tuple[int, dict[str, Any]]:
    """What a health view answers: (HTTP status, JSON body).

    200 when every check of ``client.diagnose(network=False)`` passes (nothing is sent to
    Spectrum: a probe every few seconds costs no quota and no token exchange), else 503; the
    body holds each check and the receive health per line. A client that cannot be made
    (missing credentials, a bad setting) is a 503 naming the reason."""
    from ._errors import SpectrumError

    try:
        client = holder.get()
        checks = client.diagnose(network=False)
        lines = {phone: {"state": health.state, "streams": dict(health.streams),
                         "last_frame_at": health.last_frame_at,
                         "reconnects": health.reconnects, "gaps": len(health.gaps),
                         "last_error": health.last_error, "store_error": health.store_error,
                         "held": health.held}
                 for phone, health in client.health().items()}
    except SpectrumError as exc:
        return 503, {"ok": False, "error": str(exc), "checks": [], "lines": {}}
    ok = all(check.ok for check in checks)
    return (200 if ok else 503), {"ok": ok, "checks": [check.as_dict() for check in checks],
                                  "lines": lines}


@atexit.register
def _close_all() -> None:
    for holder in list(_holders):
        try:
            holder.close()
        except Exception:  # exiting: nothing left to report to
            log.debug("closing a client at exit failed", exc_info=True)
