from django import forms
from django.utils.translation import gettext_lazy as _

from integrations.bank.models import ImportJob

ENCODING_CHOICES = [
    ("auto", _("Detect automatically")),
    ("utf-8", "UTF-8"),
    ("gb18030", "GBK / GB18030"),
    ("utf-16", "UTF-16"),
]


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("Data"), choices=ImportJob.Kind.choices)
    file = forms.FileField(
        label=_("File"),
        help_text=_("CSV or Excel (.xlsx); the first row names the columns."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx"}),
    )
    encoding = forms.ChoiceField(
        label=_("Encoding (CSV)"),
        choices=ENCODING_CHOICES,
        initial="auto",
        help_text=_("Chinese bank systems often write GBK; automatic detection recognises it."),
    )
