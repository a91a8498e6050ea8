"""A view that sends a notification through the lazy client proxy."""

from __future__ import annotations

import json
import os

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from spectrum_sync.django import client


@csrf_exempt
def send(request: HttpRequest) -> HttpResponse:
    data = json.loads(request.body)
    space = client.space.create(data["to"], phone=data.get("phone"))
    sent = space.send(data["text"], idempotency_key=data.get("key"))
    return JsonResponse({"guid": sent.guid, "pid": os.getpid()})
