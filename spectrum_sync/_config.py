"""Configuration in one place: the settings table and the public configuration values.

:data:`SETTINGS` has one row per setting: its name (a key of Django's ``SPECTRUM`` dict and,
after the ``SPECTRUM_`` prefix, of Flask's ``app.config``), the environment variable that
supplies it when it is not given, the ``Client`` keyword it becomes and the parser of its
text. The client (:class:`ClientConfig`), the framework glue (``_framework.py``), the pytest
plugin and the command line's help read this table; the variable names themselves are
written in ``_envnames.py`` only, which the emulator reads too (docs/architecture.md,
"Configuration").

:class:`RetryPolicy`, :class:`QuotaLimits` and :class:`Line` are the public configuration
values (``spectrum_sync.RetryPolicy``, ...). A leaf: nothing here imports another layer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import attrs

from . import _envnames as names
from ._backoff import jittered
from ._errors import ConfigurationError
from ._records import field_methods
from ._validate import check_config_timeout, parse_bool, positive_number

if TYPE_CHECKING:
    from ._state.base import StateStore

__all__ = [
    "BY_NAME",
    "CLIENT_ENV",
    "DEFAULT_ADDRESS_TEMPLATE",
    "DEFAULT_CLOUD_URL",
    "DEFAULT_SHARED_ADDRESS",
    "MESSAGES",
    "NEW_CONVERSATIONS",
    "SETTINGS",
    "ClientConfig",
    "Line",
    "QuotaLimits",
    "RetryPolicy",
    "Setting",
    "environment_help",
]

DEFAULT_CLOUD_URL = "https://spectrum.photon.codes"
DEFAULT_SHARED_ADDRESS = "imessage.spectrum.photon.codes:443"
DEFAULT_ADDRESS_TEMPLATE = "{instanceId}.imsg.photon.codes:443"

#: The kinds of daily quota (``QuotaLimits.limit``; the quota tracker's counters).
MESSAGES = "messages"
NEW_CONVERSATIONS = "new_conversations"


# ----- the public configuration values -----------------------------------------------------


def _attempts(instance: Any, attribute: Any, value: Any) -> None:
    positive_number(f"RetryPolicy.{attribute.name}", value, integer=True, maximum=100)


def _seconds(instance: Any, attribute: Any, value: Any) -> None:
    positive_number(f"RetryPolicy.{attribute.name}", value, maximum=300)


@field_methods
@attrs.frozen(repr=False, eq=False)
class RetryPolicy:
    """Retries of calls the server marked ``x-retryable`` (or whose connection broke):
    at most ``max_attempts`` attempts, full-jitter exponential backoff from ``base`` seconds,
    capped at ``cap``, all within the call's deadline."""

    __module__ = "spectrum_sync"  # the name users see (reprs, pickles), not this module's

    max_attempts: int = attrs.field(default=4, validator=_attempts)
    base: float = attrs.field(default=0.2, validator=_seconds)
    cap: float = attrs.field(default=5.0, validator=_seconds)

    def delay(self, attempt: int) -> float:
        """Sleep before retry number ``attempt + 1`` (attempt counts from 0)."""
        return jittered(attempt, self.base, self.cap)


def _limit(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None:
        positive_number(f"QuotaLimits.{attribute.name}", value, integer=True,
                        allow_zero=True)


@field_methods
@attrs.frozen(repr=False, eq=False)
class QuotaLimits:
    """Daily limits per line (integers >= 0); ``None`` disables the client-side check."""

    __module__ = "spectrum_sync"

    messages_per_day: int | None = attrs.field(default=5000, validator=_limit)
    new_conversations_per_day: int | None = attrs.field(default=50, validator=_limit)

    def limit(self, kind: str) -> int | None:
        """The daily limit of ``kind`` ("messages" or "new_conversations"; None: no limit)."""
        return self.messages_per_day if kind == MESSAGES else self.new_conversations_per_day


@field_methods
@attrs.frozen(repr=False, eq=False)
class Line:
    """A self-hosted line: gRPC ``address`` ("host:port"), static bearer ``token``, ``phone``
    (its number), ``tls`` (False only for a local relay or the emulator)."""

    __module__ = "spectrum_sync"

    address: str
    token: str = attrs.field(repr=False)
    phone: str
    tls: bool = True


# ----- the settings table --------------------------------------------------------------------


def _seconds_text(name: str, value: object) -> object:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ConfigurationError(f"{name} must be a number of seconds, not {value!r}"
                                     ) from None
    return value  # anything else: the client validates it


class Setting(NamedTuple):
    """One setting. ``env`` is the environment variable that supplies it when it is not
    given (None: settings only); ``client_env`` says whether a plain ``Client()`` reads that
    variable itself (else only the framework integrations and tools do). ``parse`` turns a
    text value (from the environment or a settings file) into the keyword's value.
    ``django`` is False for a Flask-only setting (not a key of Django's ``SPECTRUM``).
    Internal records (this and :class:`ClientConfig`) are named tuples, not attrs classes:
    their creation is part of every process's start (bench/oneshot.py)."""

    name: str
    keyword: str | None
    env: str | None = None
    client_env: bool = False
    parse: Callable[[str, object], object] | None = None
    doc: str = ""
    django: bool = True


SETTINGS: tuple[Setting, ...] = (
    Setting("PROJECT_ID", "project_id", names.PROJECT_ID, True, doc="the project's id"),
    Setting("PROJECT_SECRET", "project_secret", names.PROJECT_SECRET, True,
            doc="the project's secret"),
    Setting("CLOUD_URL", "cloud_url", names.CLOUD_URL, True,
            doc=f"the token exchange (default {DEFAULT_CLOUD_URL})"),
    Setting("IMESSAGE_ADDRESS", "address", names.IMESSAGE_ADDRESS, True,
            doc="the shared gRPC endpoint (host:port)"),
    Setting("IMESSAGE_ADDRESS_TEMPLATE", "address_template", names.IMESSAGE_ADDRESS_TEMPLATE,
            True, doc="dedicated lines' endpoint, with {instanceId}"),
    Setting("IMESSAGE_TLS", "tls", names.IMESSAGE_TLS, True, parse_bool,
            doc="TLS to the gRPC endpoints (default true)"),
    Setting("TLS_CA_FILE", "ca_file", names.TLS_CA_FILE, True,
            doc="PEM roots to trust instead of the system's"),
    Setting("STATE", "state", names.STATE, doc="the state store, e.g. sqlite:///state.db"),
    Setting("TIMEOUT", "timeout", names.TIMEOUT, parse=_seconds_text,
            doc="the default deadline of a call (seconds)"),
    Setting("DEFAULT_REGION", "default_region"),
    Setting("QUOTA_LIMITS", "quota_limits"),
    Setting("RETRY", "retry"),
    Setting("RECEIVE", "receive"),
    Setting("LINES", "lines"),
    Setting("WEBHOOK_SECRET", None, names.WEBHOOK_SECRET,
            doc="the webhook signing secret (whsec_... selects Standard Webhooks)"),
    Setting("WEBHOOK_PATH", None),
    Setting("HEALTH_PATH", None, django=False),
    Setting("HANDLERS", None),
)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
_BY_KEYWORD: dict[str, Setting] = {s.keyword: s for s in SETTINGS if s.keyword}
#: The variables a plain ``Client()`` reads, and the keyword each one supplies.
CLIENT_ENV: dict[str, str] = {s.env: s.keyword for s in SETTINGS
                              if s.client_env and s.env and s.keyword}


def environment_help(settings: Iterable[Setting]) -> str:
    """The environment variables of ``settings``, with what each sets: for ``--help``
    texts (one paragraph, which argparse wraps)."""
    return "; ".join(f"{s.env}: {s.doc}" for s in settings if s.env and s.doc)


# ----- what a Client was given ---------------------------------------------------------------


def _check_types(retry: object, quota_limits: object, region: object, cache_ttl: object,
                 cache_size: object, tls: object) -> None:
    for name, value, cls in (("retry", retry, RetryPolicy),
                             ("quota_limits", quota_limits, QuotaLimits)):
        if value is not None and not isinstance(value, cls):
            raise ConfigurationError(
                f"{name}= takes a {cls.__name__}, not {type(value).__name__}")
    if not isinstance(region, str) or len(region) != 2 or not region.isalpha():
        raise ConfigurationError(
            f"default_region must be a two-letter region code such as 'US', not {region!r}")
    positive_number("user_cache_ttl", cache_ttl)
    positive_number("user_cache_size", cache_size, integer=True)
    if tls is not None and not isinstance(tls, bool):
        raise ConfigurationError(f"tls must be True, False or None, not {tls!r}")


#: The keywords that apply to cloud mode only (refused with ``local=True``).
_CLOUD_ONLY = ("project_id", "project_secret", "lines", "cloud_url", "address",
               "address_template", "tls", "ca_file", "retry", "quota_limits")


class ClientConfig(NamedTuple):
    """What a ``Client`` was given, checked, and the environment it reads the rest from
    (:meth:`text`, :meth:`flag`). Made by :meth:`read`; the wiring (``_wiring.py``) builds
    the client's parts from it."""

    project_id: str | None
    project_secret: str | None
    lines: Iterable[Line] | None
    cloud_url: str | None
    address: str | None
    address_template: str | None
    tls: bool | None
    ca_file: str | None
    timeout: float
    retry: RetryPolicy
    quota_limits: QuotaLimits
    default_region: str
    user_cache_ttl: float
    user_cache_size: int
    state: StateStore | str | None
    receive: Any
    local: bool
    chat_db: str | os.PathLike[str] | None
    environ: Mapping[str, str]
    #: The cloud-mode keywords given explicitly (checked against ``local=True``).
    given: frozenset[str] = frozenset()

    def __repr__(self) -> str:  # neither the secret nor the environment
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields
                          if name not in ("project_secret", "environ"))
        return f"ClientConfig({shown})"

    @classmethod
    def read(cls, *, retry: RetryPolicy | None, quota_limits: QuotaLimits | None,
             env: Mapping[str, str] | None, timeout: float, default_region: str,
             user_cache_ttl: float, user_cache_size: int, tls: bool | None, local: bool,
             chat_db: str | os.PathLike[str] | None, **rest: Any) -> ClientConfig:
        """Check the ``Client`` arguments (``ConfigurationError`` for a wrong one) and keep
        them with the environment (``os.environ`` unless ``env`` is given)."""
        checked_timeout = check_config_timeout("timeout", timeout)
        _check_types(retry, quota_limits, default_region, user_cache_ttl, user_cache_size,
                     tls)
        if (local or chat_db is not None) and local is not True:
            raise ConfigurationError("chat_db= applies to local mode: pass local=True as well")
        explicit = {"retry": retry, "quota_limits": quota_limits, "tls": tls, **rest}
        given = frozenset(k for k in _CLOUD_ONLY if explicit.get(k) is not None)
        return cls(retry=retry or RetryPolicy(), quota_limits=quota_limits or QuotaLimits(),
                   environ=os.environ if env is None else env, timeout=checked_timeout,
                   default_region=default_region, user_cache_ttl=user_cache_ttl,
                   user_cache_size=user_cache_size, tls=tls, local=bool(local),
                   chat_db=chat_db, given=given, **rest)

    def text(self, keyword: str) -> str | None:
        """A text setting: the keyword's value when given (``""`` counts as not set), else
        its environment variable's (when a plain client reads it)."""
        value = getattr(self, keyword)
        if value is not None:
            if not isinstance(value, str):
                raise ConfigurationError(
                    f"{keyword} must be a string, not {type(value).__name__}")
            return value or None
        setting = _BY_KEYWORD[keyword]
        if not setting.client_env or setting.env is None:
            return None
        return self.environ.get(setting.env) or None

    def flag(self, keyword: str, default: bool) -> bool:
        """A boolean setting: the keyword's value, else its environment variable's, else
        ``default``."""
        value = getattr(self, keyword)
        if value is not None:
            return bool(value)
        setting = _BY_KEYWORD[keyword]
        text = self.environ.get(setting.env) if setting.env else None
        return default if not text else parse_bool(setting.env or keyword, text)

    @staticmethod
    def label(keyword: str) -> str:
        """How an error names a setting: ``project_id= or SPECTRUM_PROJECT_ID``."""
        env = _BY_KEYWORD[keyword].env
        return f"{keyword}= or {env}" if env else f"{keyword}="

    @staticmethod
    def env_name(keyword: str) -> str:
        """The environment variable of a keyword."""
        env = _BY_KEYWORD[keyword].env
        assert env is not None, keyword
        return env
