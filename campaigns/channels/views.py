"""Channel code pages (head-office admins) and the channel report (everyone, within their data scope)."""

import logging

import requests
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.channels import selectors, services
from campaigns.channels.forms import ChannelCodeForm, report_period
from campaigns.channels.models import ChannelCode
from workbench.web.access import channels_admin_required, staff_required

logger = logging.getLogger(__name__)

SECTION = "channels"
QR_MAX_BYTES = 2 * 1024 * 1024


@channels_admin_required
def code_list(request):
    request.workbench_section = SECTION
    return render(request, "channels/list.html", {"codes": selectors.codes()})


def _save(request, form, code=None) -> ChannelCode | None:
    data = form.cleaned_data
    cap = data["daily_cap"]
    fields = {
        "actor": request.user,
        "name": data["name"],
        "members": [(operator, cap) for operator in data["operators"]],
        "backup": data["backup_operator"],
        "tags": list(data["auto_tags"]),
        "welcome_item": data["welcome_item"],
        "skip_verify": data["skip_verify"],
    }
    try:
        if code is None:
            code = services.channel_code_create(**fields)
        else:
            code = services.channel_code_update(code=code, **fields)
    except services.ChannelError as exc:
        form.add_error(None, str(exc))
        return None
    # The row is committed; now WeCom (what it cannot take yet, the periodic push retries).
    code = services.channel_code_push(code_id=code.pk)
    if code.sync == ChannelCode.Sync.SYNCED:
        messages.success(request, _("Saved and in WeCom."))
    elif code.sync == ChannelCode.Sync.PENDING:
        messages.warning(request, _("Saved; WeCom could not be reached and will be asked again within minutes."))
    else:
        messages.error(request, _("Saved, but WeCom refused it: %(error)s") % {"error": code.sync_error})
    return code


@channels_admin_required
def code_create(request):
    request.workbench_section = SECTION
    form = ChannelCodeForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        code = _save(request, form)
        if code is not None:
            return redirect("channels:edit", pk=code.pk)
    return render(request, "channels/edit.html", {"form": form, "code": None})


@channels_admin_required
def code_edit(request, pk):
    request.workbench_section = SECTION
    code = selectors.get_code(pk)
    members = list(code.members.all())
    initial = {
        "name": code.name,
        "operators": [member.operator_id for member in members],
        "daily_cap": next((member.daily_cap for member in members if member.daily_cap), None),
        "backup_operator": code.backup_operator_id,
        "auto_tags": list(code.auto_tags.values_list("pk", flat=True)),
        "welcome_item": code.welcome_item_id,
        "skip_verify": code.skip_verify,
    }
    form = ChannelCodeForm(request.POST or None, initial=initial, user=request.user)
    if request.method == "POST" and form.is_valid() and _save(request, form, code) is not None:
        return redirect("channels:edit", pk=code.pk)
    context = {"form": form, "code": code, "adds": selectors.recent_adds(code), "today": services.adds_today(code)}
    return render(request, "channels/edit.html", context)


@channels_admin_required
@require_POST
def code_delete(request, pk):
    code = services.channel_code_delete(code=selectors.get_code(pk), actor=request.user)
    services.channel_code_push(code_id=code.pk)
    messages.success(
        request, _("%(name)s deleted: its QR code no longer works; its customers stay credited.") % {"name": code.name}
    )
    return redirect("channels:list")


@channels_admin_required
def code_qr(request, pk):
    """The QR image WeCom made for the code, fetched by the server (browsers on the bank's intranet may not
    reach WeCom's image host). 404 when WeCom's address is not an image (the page then links to it instead)."""
    code = selectors.get_code(pk)
    if not code.qr_code.startswith(("https://", "http://")):
        raise Http404("No QR code yet.")
    try:
        with requests.get(code.qr_code, timeout=settings.WECOM_TIMEOUT_SECONDS, stream=True) as answer:
            content_type = answer.headers.get("Content-Type", "")
            body = answer.raw.read(QR_MAX_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        logger.warning("QR code of channel code %s not fetched: %s", code.pk, exc)
        raise Http404("QR code unavailable.") from exc
    if answer.status_code != 200 or not content_type.startswith("image/") or len(body) > QR_MAX_BYTES:
        raise Http404("Not an image.")
    response = HttpResponse(body, content_type=content_type)
    if request.GET.get("download"):
        extension = content_type.split("/")[-1].split(";")[0] or "png"
        response["Content-Disposition"] = f'attachment; filename="channel-{code.state}.{extension}"'
    response["Cache-Control"] = "private, max-age=600"
    return response


@staff_required
def report(request):
    request.workbench_section = "channel-report"
    since, until, since_day, until_day = report_period(request.GET)
    by_channel = selectors.report_by_channel(request.user, since=since, until=until)
    by_operator = selectors.report_by_operator(request.user, since=since, until=until)
    widest = max([row.adds for row in by_channel + by_operator] or [1])
    context = {
        "by_channel": by_channel,
        "by_operator": by_operator,
        "widest": widest,
        "since_day": since_day,
        "until_day": until_day,
        "totals": {
            "adds": sum(row.adds for row in by_channel),
            "lost_early": sum(row.lost_early for row in by_channel),
            "active": sum(row.active for row in by_channel),
        },
    }
    return render(request, "channels/report.html", context)
