"""``path("spectrum/webhook/", include("spectrum_sync.django.urls"))`` mounts the view."""

from __future__ import annotations

from django.urls import path

from .views import webhook

app_name = "spectrum_sync"
urlpatterns = [path("", webhook, name="webhook")]
