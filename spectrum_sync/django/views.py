"""The webhook view: verifies, parses, deduplicates and runs the ``@on_webhook`` handlers."""

from __future__ import annotations

import logging
from typing import Any, Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from .._bodies import BodyTooLarge, read_limited
from .._framework import health_report
from .registry import dispatcher, holder

__all__ = ["health", "webhook"]

log = logging.getLogger("spectrum_sync.django")


def _webhook(request: HttpRequest) -> HttpResponse:
    """Answers as Spectrum's own handler does: 200, 400, 401, 500 (no secret, or a handler
    raised: the sender retries), 413 past the body limit (``dispatcher.max_body``, or
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` when smaller)."""
    limit = dispatcher.max_body
    if settings.DATA_UPLOAD_MAX_MEMORY_SIZE is not None:
        limit = min(limit, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    try:
        if length > limit:
            raise BodyTooLarge(limit)
        body = read_limited(_body_stream(request, length).read, limit)
    except BodyTooLarge:
        log.warning("webhook refused (413): the body is larger than %d bytes", limit)
        return HttpResponse("body-too-large", status=413, content_type="text/plain")
    except OSError:  # the client went away mid-body
        return HttpResponse("unreadable body", status=400, content_type="text/plain")
    result = dispatcher.handle(body, request.headers)
    return HttpResponse(result.text, status=result.status, content_type="text/plain")


def _body_stream(request: HttpRequest, length: int) -> Any:
    """Where the body is read from, never ``request.body`` (which reads it whole). Django's
    WSGI request sees no body without a Content-Length; a server that decoded a chunked body
    says so with ``wsgi.input_terminated``, and its input is then read directly (still
    bounded). Otherwise the request's own stream (ASGI: the body as the server buffered it)."""
    environ = getattr(request, "environ", None)
    if length == 0 and isinstance(environ, dict) and environ.get("wsgi.input_terminated"):
        return environ["wsgi.input"]
    return request


#: The view (POST only). Exempt from CSRF: Spectrum signs its requests instead, and can send
#: no CSRF token.
webhook: Callable[[HttpRequest], HttpResponse] = csrf_exempt(require_POST(_webhook))


def _health(request: HttpRequest) -> HttpResponse:
    """Health for load balancers and Kubernetes probes: JSON of the set-up checks that send
    nothing to Spectrum and the receive health per line; 200 when every check passes, else
    503. Mount it by hand (``path("spectrum/health/", health)``): it is off by default."""
    status, body = health_report(holder)
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


#: The health view (GET only).
health: Callable[[HttpRequest], HttpResponse] = require_GET(_health)
