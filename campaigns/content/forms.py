from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campaigns.content.models import ContentAsset, ContentCategory, ContentItem, Scenario
from campaigns.content.services import ATTACHMENT_TYPES

ATTACHMENT_LABELS = {
    "image": _("Image"),
    "link": pgettext_lazy("attachment", "Link"),
    "miniprogram": _("Mini-program"),
    "file": _("File"),
    "video": _("Video"),
}


def end_of(day) -> datetime | None:
    """A date as the moment its validity ends: the start of the next day, local time."""
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def last_day(valid_until) -> object:
    return (timezone.localtime(valid_until) - timedelta(seconds=1)).date() if valid_until else None


class ContentForm(forms.Form):
    title = forms.CharField(
        label=pgettext_lazy("content", "Title"), max_length=100, help_text=_("For the library; customers never see it.")
    )
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=ContentCategory.objects.all(), required=False, empty_label=_("(none)")
    )
    scenario = forms.ChoiceField(
        label=_("Scenario"),
        choices=Scenario.choices,
        initial=Scenario.GENERAL,
        required=False,
        help_text=_("When operators reach for it: the quick-reply page and the WeCom sidebar filter by it."),
    )
    use = forms.ChoiceField(
        label=_("Used for"),
        choices=ContentItem.Use.choices,
        help_text=_("Decides which variables are allowed; it cannot be changed later."),
    )
    text = forms.CharField(
        label=_("Text"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "maxlength": 4000}),
    )
    valid_through = forms.DateField(
        label=_("Valid through"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("For time-limited offers: from the next day on the content can no longer be sent."),
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["use"]

    def clean_valid_through(self):
        day = self.cleaned_data.get("valid_through")
        if day is not None and day < timezone.localdate():
            raise forms.ValidationError(_("The date has passed."))
        return day


class AttachmentForm(forms.Form):
    type = forms.ChoiceField(label=_("Kind"), choices=[(kind, ATTACHMENT_LABELS[kind]) for kind in ATTACHMENT_TYPES])
    file = forms.FileField(
        label=_("File"), required=False, help_text=_("Image: JPG or PNG. Video: MP4. Link: an optional cover image.")
    )
    title = forms.CharField(label=pgettext_lazy("content", "Title"), required=False, max_length=128)
    url = forms.CharField(label=_("Address"), required=False, max_length=2048)
    desc = forms.CharField(label=_("Description"), required=False, max_length=512)
    appid = forms.CharField(label=_("Mini-program AppID"), required=False, max_length=64)
    page = forms.CharField(label=_("Mini-program page"), required=False, max_length=256)

    def clean(self):
        data = super().clean()
        kind = data.get("type")
        needs_file = kind in (ContentAsset.Kind.IMAGE, ContentAsset.Kind.FILE, ContentAsset.Kind.VIDEO, "miniprogram")
        if needs_file and not data.get("file"):
            self.add_error("file", _("Choose the file."))
        if kind == "link" and not data.get("url"):
            self.add_error("url", _("Give the address."))
        return data


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))])
    note = forms.CharField(label=_("Reason or note"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self):
        data = super().clean()
        if data.get("decision") == "reject" and not (data.get("note") or "").strip():
            self.add_error("note", _("Say why the content is rejected: the author needs the reason."))
        return data


class SensitiveWordForm(forms.Form):
    word = forms.CharField(label=_("Word"), max_length=50)
    note = forms.CharField(label=_("Why it is listed"), max_length=200, required=False)
