"""Customer filters shared by the web list, the export and the API (django-filter)."""

import re

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tagging.models import Customer, OccupationGroup
from workbench.org.scope import visible_branches, visible_operators
from workbench.pii import lookup_hash

_MOBILE = re.compile(r"1\d{10}")
_MASKED_MOBILE = re.compile(r"\d{3}\*{4}\d{4}")
_LAST4 = re.compile(r"\d{4}")


# The choices are rendered as <option>s (thousands of operators for a whole-bank role): load only what a
# label and the subtree filter need.
def _branches(request):
    branches = visible_branches(request.user) if request is not None else visible_branches(None)
    return branches.only("pk", "name", "path")


def _operators(request):
    operators = visible_operators(request.user) if request is not None else visible_operators(None)
    return operators.only("pk", "name")


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search",
        label=_("Search"),
        help_text=_("Name (prefix), customer number, full mobile, masked mobile 138****5678 or its last 4 digits"),
    )
    branch = django_filters.ModelChoiceFilter(queryset=_branches, method="in_branch", label=_("Branch (and below)"))
    owner = django_filters.ModelChoiceFilter(queryset=_operators, label=_("Owner operator"))
    occupation_group = django_filters.ChoiceFilter(choices=OccupationGroup.choices, label=_("Occupation group"))
    aum_min = django_filters.NumberFilter(field_name="aum", lookup_expr="gte", label=_("AUM from"), min_value=0)
    aum_max = django_filters.NumberFilter(field_name="aum", lookup_expr="lte", label=_("AUM to"), min_value=0)
    external_userid = django_filters.CharFilter(field_name="external_userid", label=_("WeCom external_userid"))

    class Meta:
        model = Customer
        fields = ["q", "branch", "owner", "occupation_group", "aum_min", "aum_max", "external_userid"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        if _MOBILE.fullmatch(value):
            return queryset.filter(mobile_hash=lookup_hash(value))
        if _MASKED_MOBILE.fullmatch(value):
            return queryset.filter(mobile_masked=value)
        if _LAST4.fullmatch(value):
            return queryset.filter(Q(mobile_last4=value) | Q(customer_no=value))
        return queryset.filter(Q(customer_no=value.upper()) | Q(name__startswith=value))

    def in_branch(self, queryset, name, branch):
        subtree = _branches(self.request).filter(path__startswith=branch.path).values("pk")
        return queryset.filter(branch_id__in=subtree)
