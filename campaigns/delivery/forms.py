from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.delivery.models import ContactPolicy, OperatorTask
from campaigns.delivery.policy import validate_policy

POLICY_FIELDS = [
    "cap_per_day",
    "cap_per_week",
    "cap_per_month",
    "quiet_start",
    "quiet_end",
    "wecom_quota_mode",
    "remind_after_minutes",
    "stale_after_hours",
    "conversion_window_days",
]


class PolicyForm(forms.ModelForm):
    class Meta:
        model = ContactPolicy
        fields = POLICY_FIELDS
        widgets = {
            "quiet_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        probe = ContactPolicy(**{name: cleaned[name] for name in POLICY_FIELDS})
        try:
            validate_policy(probe)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    self.add_error(field if field in self.fields else None, error)
        return cleaned

    def _post_clean(self):
        # validate_policy above is the model's check; skip the instance's full_clean of unrelated fields.
        pass


class TaskDoneForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=OperatorTask.Outcome.choices)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class TaskPostponeForm(forms.Form):
    until = forms.DateTimeField(
        label=_("Postpone to"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

    def clean_until(self):
        until = self.cleaned_data["until"]
        if until <= timezone.now():
            raise ValidationError(_("Postpone to a time in the future."))
        return until


class DndForm(forms.Form):
    on = forms.BooleanField(label=_("Do not disturb"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)
