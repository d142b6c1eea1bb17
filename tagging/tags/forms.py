"""Forms of the tag pages. They validate what a person typed; the services decide and write."""

from django import forms
from django.utils.translation import gettext_lazy as _

from tagging.models import BulkTagJob, Tag, TagGroup
from tagging.tags.services import NAME_MAX


class TagGroupForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=NAME_MAX, help_text=_("At most 30 characters (WeCom's limit)."))
    description = forms.CharField(
        label=_("What it means"), required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )
    order = forms.IntegerField(label=_("Order"), min_value=0, max_value=9999, initial=0, help_text=_("Smaller first."))


class TagForm(forms.Form):
    group = forms.ModelChoiceField(label=_("Tag group"), queryset=TagGroup.objects.order_by("order", "name"))
    name = forms.CharField(label=_("Name"), max_length=NAME_MAX, help_text=_("At most 30 characters (WeCom's limit)."))
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=Tag.Kind.choices,
        initial=Tag.Kind.MANUAL,
        help_text=_(
            "Manual: set by people. Rule: computed by its rule. Event: set by a playbook or a channel code. "
            "Imported: from the bank's data."
        ),
    )
    description = forms.CharField(
        label=_("What it means"), required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )
    order = forms.IntegerField(label=_("Order"), min_value=0, max_value=9999, initial=0, help_text=_("Smaller first."))

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:  # a tag stays in its group (WeCom cannot move a corp tag between groups)
            del self.fields["group"]


class BulkTagForm(forms.Form):
    tag = forms.ModelChoiceField(
        label=_("Tag"), queryset=Tag.objects.filter(is_active=True, kind=Tag.Kind.MANUAL).select_related("group")
    )
    action = forms.ChoiceField(label=_("Action"), choices=BulkTagJob.Action.choices, initial=BulkTagJob.Action.ADD)


class CustomerTagForm(forms.Form):
    tag = forms.ModelChoiceField(label=_("Tag"), queryset=Tag.objects.filter(is_active=True))
