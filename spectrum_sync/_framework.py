"""What the Flask and Django integrations share: settings → client arguments, and one lazily
made client per process.

Settings use the environment variables' names without the ``SPECTRUM_`` prefix
(``PROJECT_ID``, ``PROJECT_SECRET``, ``CLOUD_URL``, ``IMESSAGE_ADDRESS``,
``IMESSAGE_ADDRESS_TEMPLATE``, ``IMESSAGE_TLS``, ``TLS_CA_FILE``) plus ``STATE``, ``TIMEOUT``,
``DEFAULT_REGION``, ``QUOTA_LIMITS``, ``RETRY``, ``RECEIVE``, ``LINES``, ``WEBHOOK_SECRET``;
whatever a setting leaves out comes from the environment, as with a plain ``Client()``.
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

from ._errors import ConfigurationError
from ._validate import parse_bool

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["CLIENT_SETTINGS", "ClientHolder", "client_kwargs", "has_credentials",
           "health_report", "webhook_secret"]

log = logging.getLogger("spectrum_sync.integrations")

#: Setting name → ``Client`` keyword argument.
CLIENT_SETTINGS = {
    "PROJECT_ID": "project_id",
    "PROJECT_SECRET": "project_secret",
    "CLOUD_URL": "cloud_url",
    "IMESSAGE_ADDRESS": "address",
    "IMESSAGE_ADDRESS_TEMPLATE": "address_template",
    "IMESSAGE_TLS": "tls",
    "TLS_CA_FILE": "ca_file",
    "STATE": "state",
    "TIMEOUT": "timeout",
    "DEFAULT_REGION": "default_region",
    "QUOTA_LIMITS": "quota_limits",
    "RETRY": "retry",
    "RECEIVE": "receive",
    "LINES": "lines",
}
#: Settings that are not client arguments.
OTHER_SETTINGS = ("WEBHOOK_SECRET", "WEBHOOK_PATH", "HANDLERS")

# Settings a plain Client() does not read from the environment, but an app's deployment
# naturally sets there.
_ENV_ONLY = {"STATE": "SPECTRUM_STATE", "TIMEOUT": "SPECTRUM_TIMEOUT"}


def _timeout(value: object) -> float:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ConfigurationError(f"TIMEOUT must be a number of seconds, not {value!r}"
                                     ) from None
    return value  # type: ignore[return-value]  # the client validates it


def client_kwargs(settings: Mapping[str, Any],
                  env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``Client`` keyword arguments from settings (names without the prefix); absent ones
    are left to the client, which reads the environment."""
    environ = os.environ if env is None else env
    kwargs: dict[str, Any] = {}
    for name, arg in CLIENT_SETTINGS.items():
        value = settings.get(name)
        if value is None and name in _ENV_ONLY:
            value = environ.get(_ENV_ONLY[name]) or None
        if value is None:
            continue
        if name == "IMESSAGE_TLS":
            value = parse_bool("IMESSAGE_TLS", value)
        elif name == "TIMEOUT":
            value = _timeout(value)
        kwargs[arg] = value
    if env is not None:
        kwargs["env"] = env
    return kwargs


def has_credentials(settings: Mapping[str, Any], env: Mapping[str, str] | None = None) -> bool:
    """Whether a client could be made: project credentials (settings or environment) or
    explicit lines."""
    environ = os.environ if env is None else env
    if settings.get("LINES"):
        return True
    return all(settings.get(name) or environ.get(f"SPECTRUM_{name}")
               for name in ("PROJECT_ID", "PROJECT_SECRET"))


def webhook_secret(settings: Mapping[str, Any],
                   env: Mapping[str, str] | None = None) -> str | list[str] | None:
    """The webhook signing secret (a list during a rotation): the setting, else
    ``SPECTRUM_WEBHOOK_SECRET``."""
    value = settings.get("WEBHOOK_SECRET")
    if value:
        return value if isinstance(value, str) else [str(v) for v in value]
    environ = os.environ if env is None else env
    return environ.get("SPECTRUM_WEBHOOK_SECRET") or None


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
