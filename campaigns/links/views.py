"""`/l/<token>`: the public redirect behind every tracked link. Customers have no login; the token is the key."""

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_http_methods

from campaigns.links import services
from campaigns.links.models import TrackedLink


def _redirect(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"  # every click must reach us, not a cache
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_http_methods(["GET", "HEAD"])
def redirect(request: HttpRequest, token: str) -> HttpResponse:
    link = TrackedLink.objects.filter(token=token).first()
    if link is None:
        raise Http404("No such link.")
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    if request.method == "HEAD" or services.is_bot(user_agent):
        return _redirect(link.url)  # a link preview or a crawler: not a click
    wechat = services.in_wechat(user_agent)
    returned = "state" in request.GET  # back from WeCom's OAuth page (with a code, or without one if refused)
    if wechat and not returned and not link.customer_id and not link.external_userid and services.oauth_configured():
        # Back to this same public address (a trusted domain of the WeCom app), whatever host served us.
        return _redirect(services.oauth_url(services.public_url(link), state="l"))
    code = request.GET.get("code", "")
    identity = services.oauth_identity(code) if code and returned else {}
    services.click_record(
        link=link,
        identity=identity,
        address=request.META.get("REMOTE_ADDR", ""),
        user_agent=user_agent,
        in_wechat=wechat,
    )
    return _redirect(link.url)
