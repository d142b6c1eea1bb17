"""The callback URL WeCom calls: GET to verify it, POST for every event. Public (WeCom has no login)."""

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from integrations.wecom.callbacks.crypto import CallbackRejected, MalformedCallback, decrypt_event, verify_url
from integrations.wecom.callbacks.services import receive_callback

logger = logging.getLogger(__name__)


@csrf_exempt  # WeCom cannot send a CSRF token; the message signature and the encryption authenticate it
@require_http_methods(["GET", "POST"])
def callback(request: HttpRequest) -> HttpResponse:
    """GET: answer the decrypted echostr. POST: store the event and answer an empty 200 at once (WeCom
    retries what is not answered within seconds); the work happens in the `callbacks` worker."""
    # QueryDict values are already URL-decoded, as WeCom's documentation asks.
    signed = {name: request.GET.get(name, "") for name in ("msg_signature", "timestamp", "nonce")}
    try:
        if request.method == "GET":
            echo = verify_url(**signed, echostr=request.GET.get("echostr", ""))
            return HttpResponse(echo, content_type="text/plain; charset=utf-8")
        receive_callback(decrypt_event(body=request.body, **signed))
    except MalformedCallback as exc:
        logger.warning("WeCom callback from %s refused (400): %s", request.META.get("REMOTE_ADDR"), exc)
        return HttpResponseBadRequest()
    except CallbackRejected as exc:
        logger.warning("WeCom callback from %s refused (403): %s", request.META.get("REMOTE_ADDR"), exc)
        return HttpResponseForbidden()
    return HttpResponse(b"", content_type="text/plain; charset=utf-8")
