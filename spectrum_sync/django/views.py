"""The webhook view: verifies, parses, deduplicates and runs the ``@on_webhook`` handlers."""

from __future__ import annotations

from typing import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..webhooks import WebhookResponse
from .registry import dispatcher

__all__ = ["webhook"]


def _webhook(request: HttpRequest) -> HttpResponse:
    """Answers as Spectrum's own handler does: 200, 400, 401, 500 (no secret, or a handler
    raised: the sender retries)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > dispatcher.max_body:
        result = WebhookResponse(413, "body-too-large")
    else:
        try:
            body = request.body
        except RequestDataTooBig:  # DATA_UPLOAD_MAX_MEMORY_SIZE
            result = WebhookResponse(413, "body-too-large")
        else:
            result = dispatcher.handle(body, request.headers)
    return HttpResponse(result.text, status=result.status, content_type="text/plain")


#: The view (POST only). Exempt from CSRF: Spectrum signs its requests instead, and can send
#: no CSRF token.
webhook: Callable[[HttpRequest], HttpResponse] = csrf_exempt(require_POST(_webhook))
