"""The home page's and the customer 360's catalogues (workbench/web/locale, tagging/locale): every entry
translated, none fuzzy, and the compiled .mo matching the .po."""

import gettext
from pathlib import Path

import pytest
from django.conf import settings

from tests.web.test_templates import _po_entries

CATALOGS = [
    Path(settings.BASE_DIR) / "workbench" / "web" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po",
    Path(settings.BASE_DIR) / "tagging" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po",
]


@pytest.mark.parametrize("po_file", CATALOGS, ids=lambda path: path.parts[-5])
def test_catalog_is_complete_and_compiled(po_file):
    entries = [entry for entry in _po_entries(po_file.read_text(encoding="utf-8")) if entry[1]]
    assert len(entries) > 50
    assert not [msgid for _ctx, msgid, _plural, msgstr, _flags in entries if not msgstr]
    assert not [msgid for _ctx, msgid, _plural, _msgstr, flags in entries if "fuzzy" in flags]
    with po_file.with_suffix(".mo").open("rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    for ctx, msgid, plural, msgstr, _flags in entries:
        if plural:
            got = catalogue.npgettext(ctx, msgid, plural, 1) if ctx else catalogue.ngettext(msgid, plural, 1)
        else:
            got = catalogue.pgettext(ctx, msgid) if ctx else catalogue.gettext(msgid)
        assert got == msgstr, f"{po_file}: compile it again ({msgid!r})"
