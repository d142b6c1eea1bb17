"""The scheme builder: the scheme's settings and its rows of metric lines, with messages a head-office user can
act on (which row, what is wrong, what the numbers are)."""

from django import forms
from django.forms import formset_factory
from django.utils.translation import gettext_lazy as _

from workbench.incentives.metrics import METRICS, metric_choices
from workbench.incentives.models import PeriodKind, Scheme
from workbench.org.models import Branch
from workbench.org.roles import Role

MAX_LINES = len(METRICS)


class SchemeForm(forms.Form):
    name = forms.CharField(label=_("Scheme name"), max_length=64)
    period_kind = forms.ChoiceField(label=_("Period"), choices=PeriodKind.choices, initial=PeriodKind.MONTH)
    roles = forms.MultipleChoiceField(
        label=_("Applies to roles"),
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Role.OPERATOR],
        error_messages={"required": _("Choose at least one role the scheme applies to.")},
    )
    branches = forms.ModelMultipleChoiceField(
        label=_("Applies to branches"),
        queryset=Branch.objects.filter(is_active=True, level__lte=Branch.Level.SUB_BRANCH).order_by("path"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("Each chosen branch includes every branch below it. Choose none for the whole bank."),
    )
    note = forms.CharField(
        label=_("What changed"),
        max_length=200,
        required=False,
        help_text=_("Kept with the version, so everyone can see why the rules changed."),
    )

    def __init__(self, *args, scheme: Scheme | None = None, **kwargs):
        self.scheme = scheme
        super().__init__(*args, **kwargs)
        self.fields["branches"].label_from_instance = lambda branch: "　" * (branch.depth - 1) + branch.name

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        taken = Scheme.objects.filter(name=name)
        if self.scheme is not None:
            taken = taken.exclude(pk=self.scheme.pk)
        if taken.exists():
            raise forms.ValidationError(_("Another scheme is already called “%(name)s”."), params={"name": name})
        return name


class MetricLineForm(forms.Form):
    metric = forms.ChoiceField(label=_("Metric"), choices=[("", "—")] + metric_choices())
    weight = forms.IntegerField(label=_("Weight"), min_value=1, max_value=100)
    target = forms.DecimalField(label=_("Target"), max_digits=16, decimal_places=2)
    cap = forms.DecimalField(label=_("Cap (points)"), max_digits=8, decimal_places=2)
    floor = forms.DecimalField(label=_("Floor (points)"), max_digits=8, decimal_places=2, initial=0)

    def clean(self):
        data = super().clean()
        target, cap, floor, weight = (data.get(key) for key in ("target", "cap", "floor", "weight"))
        if target is not None and target <= 0:
            self.add_error("target", _("The target must be greater than zero."))
        if cap is not None and cap <= 0:
            self.add_error("cap", _("The cap must be greater than zero."))
        if cap is not None and floor is not None and floor > cap:
            message = _("The floor (%(floor)s) must not be above the cap (%(cap)s).")
            self.add_error("floor", forms.ValidationError(message, params={"floor": floor, "cap": cap}))
        return data


class BaseLineFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        lines = [form.cleaned_data for form in self.forms if form.cleaned_data and not self._should_delete_form(form)]
        if not lines:
            raise forms.ValidationError(_("Add at least one metric line."))
        seen = set()
        for line in lines:
            if line["metric"] in seen:
                raise forms.ValidationError(
                    _("“%(metric)s” appears twice; each metric may be scored once."),
                    params={"metric": METRICS[line["metric"]].label},
                )
            seen.add(line["metric"])
        weights = sum(line["weight"] for line in lines)
        if weights != 100:
            raise forms.ValidationError(
                _("The weights add up to %(total)s; they must add up to 100."), params={"total": weights}
            )

    def lines(self) -> list[dict]:
        keys = ("metric", "weight", "target", "cap", "floor")
        return [
            {key: form.cleaned_data[key] for key in keys}
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]


LineFormSet = formset_factory(
    MetricLineForm, formset=BaseLineFormSet, extra=0, can_delete=True, max_num=MAX_LINES, validate_max=True
)


def initial_lines(version) -> list[dict]:
    if version is None:
        return [{"metric": "", "weight": "", "target": "", "cap": "", "floor": 0}]
    return [
        {"metric": line.metric, "weight": line.weight, "target": line.target, "cap": line.cap, "floor": line.floor}
        for line in version.lines.all()
    ]
