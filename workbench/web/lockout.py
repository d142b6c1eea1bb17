"""What a locked-out caller gets: the lockout page in the workbench, the API's error shape under /api/."""

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render

LOCKED_STATUS = 429


def lockout_response(request, credentials=None):
    cool_off = get_cool_off(request)
    if request.path.startswith("/api/"):
        minutes = int(cool_off.total_seconds() // 60) if cool_off else None
        message = "Too many failed sign-ins; try again later." if minutes else "Too many failed sign-ins."
        body = {"error": {"code": "locked_out", "message": message, "retry_after_minutes": minutes}}
        response = JsonResponse(body, status=LOCKED_STATUS)
        if cool_off:
            response["Retry-After"] = str(int(cool_off.total_seconds()))
        return response
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "username": get_client_username(request, credentials) or "",
        "cooloff_timedelta": cool_off,
    }
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, context, status=LOCKED_STATUS)
