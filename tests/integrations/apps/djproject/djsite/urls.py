from __future__ import annotations

from django.urls import include, path
from shop import views

from spectrum_sync.django.views import health

urlpatterns = [
    path("spectrum/webhook/", include("spectrum_sync.django.urls")),
    path("send/", views.send),
    path("spectrum/health/", health),
]
