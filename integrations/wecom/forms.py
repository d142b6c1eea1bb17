"""Forms of the WeCom pages. Every choice comes from the scope selector."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from workbench.org.models import Operator
from workbench.org.scope import visible_customers, visible_operators

MAX_CUSTOMERS_PER_REQUEST = 1000


class LinkContactForm(forms.Form):
    customer_no = forms.CharField(label=_("Bank customer number"), max_length=32)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_customer_no(self):
        number = self.cleaned_data["customer_no"].strip().upper()
        customer = visible_customers(self.user).filter(customer_no=number).first()
        if customer is None:
            raise forms.ValidationError(_("No customer %(number)s in your data scope.") % {"number": number})
        if customer.external_userid:
            raise forms.ValidationError(
                _("Customer %(number)s is already linked to a WeCom contact.") % {"number": number}
            )
        self.cleaned_data["customer"] = customer
        return number


class TransferForm(forms.Form):
    handover = forms.ModelChoiceField(queryset=Operator.objects.none(), label=_("From (handover operator)"))
    takeover = forms.ModelChoiceField(queryset=Operator.objects.none(), label=_("To (takeover operator)"))
    customer_numbers = forms.CharField(
        label=_("Customer numbers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line or separated by commas; leave empty for every customer the handover operator has."),
    )
    message = forms.CharField(
        label=_("Message to the customer"),
        required=False,
        max_length=200,
        help_text=_("Shown to customers of an on-the-job transfer (at most 200 characters)."),
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        operators = visible_operators(user).filter(wecom_userid__isnull=False).select_related("branch")
        self.fields["handover"].queryset = operators.order_by("status", "name")
        self.fields["takeover"].queryset = operators.filter(status=Operator.Status.ACTIVE).order_by("name")
        self.fields["handover"].label_from_instance = _operator_label
        self.fields["takeover"].label_from_instance = _operator_label

    def clean(self):
        cleaned = super().clean()
        handover = cleaned.get("handover")
        if handover is None:
            return cleaned
        scoped = visible_customers(self.user).filter(
            follows__operator=handover, follows__deleted_at__isnull=True, external_userid__isnull=False
        )
        numbers = [
            n.strip().upper() for n in re.split(r"[\s,，;；]+", cleaned.get("customer_numbers") or "") if n.strip()
        ]
        if numbers:
            customers = list(scoped.filter(customer_no__in=numbers))
            missing = sorted(set(numbers) - {customer.customer_no for customer in customers})
            if missing:
                self.add_error(
                    "customer_numbers",
                    _("Not customers of %(operator)s in your data scope: %(numbers)s")
                    % {"operator": handover.name, "numbers": ", ".join(missing[:20])},
                )
        else:
            customers = list(scoped.distinct()[: MAX_CUSTOMERS_PER_REQUEST + 1])
        if len(customers) > MAX_CUSTOMERS_PER_REQUEST:
            self.add_error(
                "customer_numbers",
                _("At most %(n)s customers per request; list customer numbers.") % {"n": MAX_CUSTOMERS_PER_REQUEST},
            )
        if not customers and not self.errors:
            self.add_error(
                "handover", _("%(operator)s has no WeCom customers in your data scope.") % {"operator": handover.name}
            )
        cleaned["customers"] = customers
        return cleaned


def _operator_label(operator: Operator) -> str:
    status = "" if operator.status == Operator.Status.ACTIVE else f" ({operator.get_status_display()})"
    return f"{operator.name} · {operator.branch.name}{status}"


__all__ = ["LinkContactForm", "TransferForm"]
