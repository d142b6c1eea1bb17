"""Forms of the segment and rule editors. The condition arrives as JSON written by the builder (never typed)."""

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from tagging.models import Tag, TagGroup
from tagging.segments import conditions as lang
from tagging.segments.models import Rule


class ConditionField(forms.Field):
    """The builder's hidden input: JSON in, a validated condition out (errors name the rows)."""

    widget = forms.HiddenInput

    def __init__(self, *args, user=None, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        return value if isinstance(value, str) else json.dumps(value or lang.empty_condition(), ensure_ascii=False)

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        try:
            return json.loads(value or "")
        except (TypeError, ValueError):
            raise forms.ValidationError(
                _("The condition could not be read. Reload the page and build it again.")
            ) from None

    def validate(self, value):
        super().validate(value)

    def clean(self, value):
        value = self.to_python(value)
        try:
            return lang.validate(value, user=self.user)
        except lang.ConditionError as error:
            raise forms.ValidationError(error.messages) from None


class SegmentForm(forms.Form):
    name = forms.CharField(label=_("Segment name"), max_length=64)
    description = forms.CharField(label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    shared = forms.BooleanField(
        label=_("Share with all workbench users"),
        required=False,
        help_text=_("Everyone then sees this segment, each counting only the customers in their own data scope."),
    )
    condition = ConditionField(label=_("Conditions"))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["condition"].user = user


class RuleForm(forms.Form):
    group = forms.ModelChoiceField(
        label=_("Tag group"), queryset=TagGroup.objects.order_by("order", "name"), empty_label=None
    )
    name = forms.CharField(label=_("Tag name"), max_length=30, help_text=_("At most 30 characters (WeCom's limit)."))
    description = forms.CharField(
        label=_("What the tag means"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    frequency = forms.ChoiceField(label=_("Recompute"), choices=Rule.Frequency.choices, initial=Rule.Frequency.DAILY)
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
    condition = ConditionField(label=_("Conditions"))

    def __init__(self, *args, rule: Rule | None = None, tag: Tag | None = None, **kwargs):
        """`rule`: editing it. `tag`: an existing rule-kind tag getting its first rule (its name stays)."""
        self.rule = rule
        self.tag = rule.tag if rule is not None else tag
        super().__init__(*args, **kwargs)
        if self.tag is not None:
            # A rule stays in its group: moving tags between groups is the tag library's business.
            self.fields["group"].disabled = True
            self.fields["group"].required = False
            self.fields["group"].initial = self.tag.group_id
        if rule is None and tag is not None:
            self.fields["name"].disabled = True
            self.fields["name"].initial = tag.name
            self.fields["description"].initial = tag.description

    def clean(self):
        cleaned = super().clean()
        group = self.tag.group if self.tag is not None else cleaned.get("group")
        name = cleaned.get("name")
        if group is not None and name:
            clash = Tag.objects.filter(group=group, name=name, is_active=True)
            if self.tag is not None:
                clash = clash.exclude(pk=self.tag.pk)
            if clash.exists():
                self.add_error("name", _("The group already has a tag with this name."))
        return cleaned
