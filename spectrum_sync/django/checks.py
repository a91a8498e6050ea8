"""System checks: ``manage.py check`` (and ``migrate``) run without credentials and warn."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings as django_settings
from django.core import checks

from .._config import BY_NAME
from .._errors import ConfigurationError
from .._framework import (
    CLIENT_SETTINGS,
    OTHER_SETTINGS,
    client_kwargs,
    has_credentials,
    webhook_secret,
)

_KNOWN = frozenset(CLIENT_SETTINGS) | frozenset(OTHER_SETTINGS)


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Settings shape, credentials and the webhook secret."""
    from .registry import dispatcher

    value = getattr(django_settings, "SPECTRUM", None)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        return [checks.Error("settings.SPECTRUM must be a dict",
                             hint="SPECTRUM = {'PROJECT_ID': ..., 'PROJECT_SECRET': ...}",
                             id="spectrum_sync.E001")]
    found: list[checks.CheckMessage] = []
    unknown = sorted(str(k) for k in value if k not in _KNOWN)
    if unknown:
        found.append(checks.Warning(
            f"unknown key(s) in settings.SPECTRUM: {', '.join(unknown)}",
            hint=f"known keys: {', '.join(sorted(_KNOWN))}", id="spectrum_sync.W003"))
    try:
        client_kwargs(value)
    except ConfigurationError as exc:
        found.append(checks.Error(f"settings.SPECTRUM: {exc.message}",
                                  id="spectrum_sync.E002"))
    if not has_credentials(value, os.environ):
        found.append(checks.Warning(
            "Spectrum credentials are not configured: sending and receiving will fail",
            hint="set SPECTRUM['PROJECT_ID'] and SPECTRUM['PROJECT_SECRET'] (or the "
                 f"{BY_NAME['PROJECT_ID'].env} / {BY_NAME['PROJECT_SECRET'].env} environment "
                 "variables)",
            id="spectrum_sync.W001"))
    if dispatcher.handlers and not (value.get("WEBHOOK_SECRET")
                                    or webhook_secret({}, os.environ)):
        found.append(checks.Warning(
            "webhook handlers are registered but no webhook secret is configured: the "
            "webhook view answers 500",
            hint=f"set SPECTRUM['WEBHOOK_SECRET'] or {BY_NAME['WEBHOOK_SECRET'].env}",
            id="spectrum_sync.W002"))
    return found
