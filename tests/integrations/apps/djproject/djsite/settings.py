"""A minimal Django project using ``spectrum_sync.django``; credentials come from the
environment only (the tests run it with and without them)."""

from __future__ import annotations

import os

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "spectrum_sync.django",
    "shop",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",  # on: the webhook view must be exempt
]
ROOT_URLCONF = "djsite.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ.get("DJANGO_DB", ":memory:")}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# Web requests: a deadline well under the server's worker timeout.
SPECTRUM = {"TIMEOUT": 10}
