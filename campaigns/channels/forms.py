from datetime import timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campaigns.channels.services import WELCOME_USES
from campaigns.content.forms import end_of
from campaigns.content.models import ContentItem
from campaigns.content.selectors import usable_items
from tagging.models import Tag
from workbench.org.models import Operator


class OperatorChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} · {obj.branch.name}"


class BackupChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} · {obj.branch.name}"


class ContentChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.title} ({obj.get_use_display()})"


class ChannelCodeForm(forms.Form):
    name = forms.CharField(
        label=pgettext_lazy("channel code", "Name"),
        max_length=30,
        help_text=_("Where the code is shown, e.g. 文三路网点柜台 (the remark in WeCom)."),
    )
    operators = OperatorChoice(
        label=_("Operators"),
        queryset=Operator.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("A customer who scans the code adds one of them (at most 100)."),
    )
    daily_cap = forms.IntegerField(
        label=_("Daily cap per operator"),
        required=False,
        min_value=1,
        max_value=5000,
        help_text=_("New customers per operator per day through this code; empty: no cap."),
    )
    backup_operator = BackupChoice(
        label=_("Backup operator"),
        queryset=Operator.objects.none(),
        required=False,
        empty_label=_("(none)"),
        help_text=_("Takes the new customers once every operator has reached the cap."),
    )
    auto_tags = forms.ModelMultipleChoiceField(
        label=_("Tags for new customers"),
        queryset=Tag.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    welcome_item = ContentChoice(
        label=_("Welcome message"),
        queryset=ContentItem.objects.none(),
        required=False,
        empty_label=_("(the default welcome text)"),
        help_text=_("Approved content only; it may greet the customer by name ({{salutation}}, {{customer_name}})."),
    )
    skip_verify = forms.BooleanField(label=_("Accept new customers without verification"), required=False, initial=True)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        members = Operator.objects.filter(status=Operator.Status.ACTIVE, wecom_userid__isnull=False).select_related(
            "branch"
        )
        self.fields["operators"].queryset = members
        self.fields["backup_operator"].queryset = members
        self.fields["auto_tags"].queryset = Tag.objects.filter(is_active=True).select_related("group")
        self.fields["welcome_item"].queryset = usable_items(user, uses=WELCOME_USES)


def report_period(params) -> tuple:
    """(since, until, since_day, until_day) from ?since=YYYY-MM-DD&until=YYYY-MM-DD; the last 30 days by default."""
    today = timezone.localdate()
    field = forms.DateField(required=False)

    def day(name, default):
        try:
            return field.clean(params.get(name)) or default
        except forms.ValidationError:
            return default

    since_day = day("since", today - timedelta(days=29))
    until_day = day("until", today)
    if until_day < since_day:
        since_day, until_day = until_day, since_day
    since = end_of(since_day - timedelta(days=1))
    until = end_of(until_day)
    return since, until, since_day, until_day
