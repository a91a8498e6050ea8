"""The Django app: system checks, handler discovery, a client reset when settings change."""

from __future__ import annotations

from typing import Any

try:
    from django.apps import AppConfig
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError("spectrum_sync.django needs Django: pip install 'spectrum-sync[django]'"
                      ) from exc


class SpectrumConfig(AppConfig):  # type: ignore[misc]
    """``spectrum_sync.django`` in ``INSTALLED_APPS``."""

    name = "spectrum_sync.django"
    label = "spectrum_sync"
    verbose_name = "Spectrum (iMessage)"

    def ready(self) -> None:
        from importlib import import_module

        from django.core import checks
        from django.core.signals import setting_changed
        from django.utils.module_loading import autodiscover_modules

        from .checks import check_settings
        from .registry import settings

        # Handlers register themselves when their module is imported: import them in every
        # process (web workers need the webhook handlers, spectrum_listen the others).
        autodiscover_modules("spectrum_handlers")
        try:
            modules = settings().get("HANDLERS") or ()
        except Exception:  # a bad SPECTRUM setting is reported by the system check
            modules = ()
        for module in modules:
            import_module(module)
        checks.register(check_settings, "spectrum_sync")
        setting_changed.connect(_settings_changed, dispatch_uid="spectrum_sync.settings")


def _settings_changed(setting: str, **kwargs: Any) -> None:
    # Tests override SPECTRUM: the next use must see the new settings.
    if setting == "SPECTRUM":
        from .registry import close_client

        close_client()
