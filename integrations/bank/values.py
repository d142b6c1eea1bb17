"""Cell parsers: one raw cell (text from a CSV, or whatever openpyxl read from a workbook) to a clean value.

A parser returns the value or raises `Invalid` with a reason a head-office user understands; an empty cell
never reaches a parser (the caller decides whether the column may be empty). They run once per cell of a
million-row file, so the common shapes take a fast path before any regular expression.
"""

import re
import time as clock
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from operator import mul

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# The stored columns' limits (tagging.Customer, tagging.Product, the bank models).
MAX_AMOUNT = Decimal("99999999999999.99")  # max_digits=16, decimal_places=2
CENT = Decimal("0.01")


_today: tuple[float, date] = (0.0, date.min)


def today() -> date:
    """The bank's local date, looked up at most once a second (parsers run a million times)."""
    global _today
    now = clock.monotonic()
    if now - _today[0] > 1.0:
        _today = (now, timezone.localdate())
    return _today[1]


class Invalid(ValueError):
    """The cell cannot be used; `message` is the reason shown in the error report."""

    def __init__(self, message: str | Promise):
        super().__init__(message)
        self.message = message


def text(value) -> str:
    """The cell as stripped text: integral floats lose their ".0", dates become ISO text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def code_text(value) -> str:
    """Text of a code-like cell. Bank exports protect long digit strings from Excel's scientific notation
    with a leading apostrophe or tab, or as a formula ="…"; all of that is taken off."""
    value = text(value)
    if value.startswith('="') and value.endswith('"'):
        value = value[2:-1].strip()
    return value.lstrip("'`").strip()


def limited(value, limit: int) -> str:
    value = text(value)
    if len(value) > limit:
        raise Invalid(_("is longer than %(limit)s characters") % {"limit": limit})
    return value


_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_\-./:]*")


def code(value, limit: int = 32) -> str:
    value = code_text(value)
    if len(value) > limit or not _CODE.fullmatch(value):
        raise Invalid(
            _("is not a valid code (letters, digits and - _ . / :, at most %(limit)s characters)") % {"limit": limit}
        )
    return value


_CUSTOMER_NO = re.compile(r"[0-9A-Za-z][0-9A-Za-z_\-]{0,31}")


def customer_no(value) -> str:
    value = code_text(value)
    if not _CUSTOMER_NO.fullmatch(value):
        raise Invalid(_("is not a valid customer number (letters, digits, - and _, at most 32 characters)"))
    return value


_MOBILE = re.compile(r"1[3-9]\d{9}")
_MOBILE_JUNK = re.compile(r"[\s\-()（）]")


def mobile(value) -> str:
    value = code_text(value)
    if not _MOBILE.fullmatch(value):
        value = _MOBILE_JUNK.sub("", value)
        for prefix in ("+86", "0086", "86"):
            if value.startswith(prefix) and len(value) == 11 + len(prefix):
                value = value[len(prefix) :]
                break
        if not _MOBILE.fullmatch(value):
            raise Invalid(_("is not an 11-digit mobile number"))
    return value


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_18 = re.compile(r"\d{17}[\dX]")
_ID_15 = re.compile(r"\d{15}")


def id_number(value) -> str:
    """A mainland resident ID number: 18 characters with the GB 11643 check character, or the old 15 digits."""
    if isinstance(value, float):
        raise Invalid(_("is stored as a number, which loses digits; format the column as text in Excel"))
    value = code_text(value).upper()
    if _ID_18.fullmatch(value):
        birth = value[6:14]
        if _ID_CHECK[sum(map(mul, map(int, value[:17]), _ID_WEIGHTS)) % 11] != value[17]:
            raise Invalid(_("has a wrong check character"))
    elif _ID_15.fullmatch(value):
        birth = "19" + value[6:12]
    else:
        raise Invalid(_("is not a resident ID number (18 characters)"))
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
    except ValueError:
        raise Invalid(_("holds an impossible birth date")) from None
    if born.year < 1900 or born > today():
        raise Invalid(_("holds an impossible birth date"))
    return value


_AMOUNT_JUNK = str.maketrans("", "", ",，¥￥元 \u00a0\u3000")


def amount(value, *, positive: bool = False) -> Decimal:
    """Yuan with at most two decimal places; thousands separators and currency signs are accepted."""
    if isinstance(value, bool):
        raise Invalid(_("is not an amount"))
    if isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
        rounded = result.quantize(CENT)
        if abs(result - rounded) < Decimal("0.000001"):  # binary noise of a two-decimal number
            result = rounded
    else:
        try:
            result = Decimal(text(value).translate(_AMOUNT_JUNK))
        except InvalidOperation:
            raise Invalid(_("is not an amount")) from None
    if not result.is_finite():
        raise Invalid(_("is not an amount"))
    if result != result.quantize(CENT):
        raise Invalid(_("has more than two decimal places"))
    result = result.quantize(CENT)
    if result < 0:
        raise Invalid(_("is negative"))
    if positive and result == 0:
        raise Invalid(_("must be greater than zero"))
    if result > MAX_AMOUNT:
        raise Invalid(_("is too large"))
    return result


_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TIME = re.compile(r"(\d{1,2})[:：时](\d{1,2})(?:[:：分](\d{1,2}))?(?:\.\d+)?秒?")


def _split_date(value: str) -> tuple[date, str]:
    """The date at the start of the text, and what follows it."""
    if len(value) >= 10 and value[4] == "-" and value[7] == "-":
        try:
            return date.fromisoformat(value[:10]), value[10:]
        except ValueError:
            pass
    match = _DATE.match(value) or _DATE_COMPACT.match(value)
    if match is None:
        raise Invalid(_("is not a date (YYYY-MM-DD)"))
    try:
        return date(int(match[1]), int(match[2]), int(match[3])), value[match.end() :]
    except ValueError:
        raise Invalid(_("is not a date (YYYY-MM-DD)")) from None


def date_value(value, *, not_future: bool = True) -> date:
    if isinstance(value, datetime):
        result = value.date()
    elif isinstance(value, date):
        result = value
    elif isinstance(value, int | float):
        raise Invalid(_("is not a date (YYYY-MM-DD)"))
    else:
        result, rest = _split_date(text(value))
        rest = rest.strip()
        if rest and not rest.lstrip("T").startswith(("0", "1", "2")):
            raise Invalid(_("is not a date (YYYY-MM-DD)"))
    if result.year < 1900 or result.year > 2100:
        raise Invalid(_("is not a plausible date"))
    if not_future and result > today():
        raise Invalid(_("is in the future"))
    return result


def datetime_value(value) -> datetime:
    """A point in time; naive values are the bank's local time (TIME_ZONE). A date alone means its midnight."""
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime.combine(value, time())
    elif isinstance(value, int | float):
        raise Invalid(_("is not a date and time (YYYY-MM-DD HH:MM:SS)"))
    else:
        day, rest = _split_date(text(value))
        rest = rest.strip().lstrip("T").strip()
        clock = time()
        if rest:
            match = _TIME.fullmatch(rest)
            if match is None:
                raise Invalid(_("is not a date and time (YYYY-MM-DD HH:MM:SS)"))
            try:
                clock = time(int(match[1]), int(match[2]), int(match[3] or 0))
            except ValueError:
                raise Invalid(_("is not a date and time (YYYY-MM-DD HH:MM:SS)")) from None
        result = datetime.combine(day, clock)
    if result.year < 1900 or result.year > 2100:
        raise Invalid(_("is not a plausible date"))
    if timezone.is_naive(result):
        result = timezone.make_aware(result)
    if result > timezone.now() + timedelta(minutes=5):
        raise Invalid(_("is in the future"))
    return result


def day_of_month(value) -> int:
    raw = text(value).rstrip("日号")
    if not raw.isdigit() or not 1 <= int(raw) <= 31:
        raise Invalid(_("is not a day of the month (1–31)"))
    return int(raw)


def choice(mapping: dict[str, object], message):
    """A parser for a closed list of values, matched without case or spaces."""

    def parse(value):
        key = text(value).lower().replace(" ", "")
        try:
            return mapping[key]
        except KeyError:
            raise Invalid(message) from None

    return parse


GENDERS = {
    "男": "M", "女": "F", "未知": "U", "未说明": "U",
    "m": "M", "f": "F", "u": "U", "male": "M", "female": "F", "unknown": "U",
    "1": "M", "2": "F", "0": "U", "9": "U",
}  # fmt: skip
OCCUPATION_GROUPS = {
    "白领": "white_collar", "白领客群": "white_collar", "white_collar": "white_collar", "white-collar": "white_collar",
    "产业工人": "industrial_worker", "工人": "industrial_worker", "industrial_worker": "industrial_worker",
    "退休": "retiree", "退休人员": "retiree", "退休客群": "retiree", "retiree": "retiree",
    "其他": "other", "其它": "other", "other": "other",
}  # fmt: skip
RISK_LEVELS = {
    **{f"c{n}": n for n in range(1, 6)},
    **{str(n): n for n in range(1, 6)},
    "保守型": 1, "谨慎型": 2, "稳健型": 3, "积极型": 4, "激进型": 5,
    **{f"c{n}{name}": n for n, name in ((1, "保守型"), (2, "谨慎型"), (3, "稳健型"), (4, "积极型"), (5, "激进型"))},
}  # fmt: skip
CATEGORIES = {
    "存款": "deposit", "deposit": "deposit", "理财": "wealth", "wealth": "wealth", "基金": "fund", "fund": "fund",
    "保险": "insurance", "insurance": "insurance", "养老金": "pension", "养老": "pension", "pension": "pension",
    "贷款": "loan", "loan": "loan", "信用卡": "credit_card", "credit_card": "credit_card",
}  # fmt: skip
HOLDING_STATES = {
    "持有": False, "正常": False, "held": False, "open": False, "active": False,
    "结清": True, "已结清": True, "赎回": True, "已赎回": True, "销户": True, "已销户": True, "closed": True,
}  # fmt: skip

gender = choice(GENDERS, _("is not 男 / 女 / 未知 (M / F / U)"))
occupation_group = choice(OCCUPATION_GROUPS, _("is not one of 白领, 产业工人, 退休, 其他"))
risk_level = choice(RISK_LEVELS, _("is not a risk level C1–C5"))
category = choice(CATEGORIES, _("is not a product category (存款, 理财, 基金, 保险, 养老金, 贷款, 信用卡)"))
holding_closed = choice(HOLDING_STATES, _("is not 持有 or 结清 (held or closed)"))
