"""Every string the staff can see is in a catalogue and translated: a string never extracted shows as English.

The catalogue test in test_templates.py checks what is in the project catalogue; this one starts from the code:
literal strings in `{% translate %}`, simple `{% blocktranslate %}` blocks and gettext calls of every app must
come out different in Chinese. The WeCom sandbox is left out: it stands for WeCom, whose pages are Chinese
only. Strings without a Latin letter need no translation.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

APPS = ("workbench", "tagging", "campaigns", "integrations")
SKIPPED_PARTS = {"migrations", "wecom_sandbox", "tests", "management"}

TRANSLATE_TAG = re.compile(r"""{%\s*(?:translate|trans)\s+(?:"((?:[^"\\]|\\.)*)"|'([^']*)')""")
GETTEXT_CALL = re.compile(
    r"""(?<![\w.])(?:_|gettext|gettext_lazy|gettext_noop)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*[,)]"""
)
BLOCK = re.compile(r"{%\s*blocktrans(?:late)?(?P<args>[^%]*)%}(?P<body>.*?){%\s*endblocktrans(?:late)?\s*%}", re.S)
VARIABLE = re.compile(r"{{\s*(\w+)\s*}}")


def _sources():
    base = Path(settings.BASE_DIR)
    for app in APPS:
        for path in sorted((base / app).rglob("*")):
            if path.suffix in (".py", ".html", ".txt") and not SKIPPED_PARTS & set(path.parts):
                yield path


def _block_msgid(args: str, body: str) -> str | None:
    if "count" in args.split() or "{%" in body:  # plural or nested tags: not worth re-implementing Django here
        return None
    if "trimmed" in args.split():
        body = " ".join(line.strip() for line in body.strip().splitlines() if line.strip())
    return VARIABLE.sub(r"%(\1)s", body.replace("%", "%%"))  # as Django looks it up: literal % doubled


def visible_strings(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    found = []
    for pattern in (TRANSLATE_TAG, GETTEXT_CALL):
        for match in pattern.finditer(text):
            raw = match.group(1) if match.group(1) is not None else match.group(2)
            string = raw.encode("latin-1", "backslashreplace").decode("unicode_escape") if "\\" in raw else raw
            found.append(string.replace("%", "%%") if pattern is TRANSLATE_TAG else string)
    if path.suffix == ".html":
        found += [msgid for m in BLOCK.finditer(text) if (msgid := _block_msgid(m["args"], m["body"]))]
    return [string for string in found if re.search("[A-Za-z]", string)]


def test_the_scanner_finds_each_kind_of_string(tmp_path):
    sample = tmp_path / "sample.html"
    sample.write_text(
        '{% translate "Due today" %} {% translate "Share (%)" %} {% blocktranslate trimmed with n=count %}\n  Hello\n'
        "  {{ n }} days, 5%\n{% endblocktranslate %}"
        " {% blocktranslate count n=k %}one{% plural %}many{% endblocktranslate %}",
        encoding="utf-8",
    )
    assert visible_strings(sample) == ["Due today", "Share (%%)", "Hello %(n)s days, 5%%"]
    code = tmp_path / "sample.py"
    code.write_text('label = _("Open")\nother = gettext_lazy("A \\"quoted\\" word", "x")\nzh = _("今日")\n')
    assert visible_strings(code) == ["Open", 'A "quoted" word']


@pytest.mark.parametrize("language", ["zh-hans"])
def test_every_visible_string_is_translated(language):
    untranslated = {}
    with translation.override(language):
        for path in _sources():
            missing = [string for string in visible_strings(path) if translation.gettext(string) == string]
            if missing:
                untranslated[str(path.relative_to(settings.BASE_DIR))] = missing
    assert not untranslated, f"untranslated (run makemessages in the app and translate): {untranslated}"
