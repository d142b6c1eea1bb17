"""Variables in content text: `{{operator_name}}` and the like, filled in when the content is used.

A WeCom mass-send task (add_msg_template) delivers ONE text to every recipient of a sender, so content used for
mass sends may only name the sender (who is known per task). Per-customer variables are allowed only where a
message goes to one customer: welcome messages and operator tasks.
"""

import re
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@dataclass(frozen=True)
class Variable:
    key: str
    label: str
    per_customer: bool
    sample: str

    @property
    def token(self) -> str:
        return "{{" + self.key + "}}"


VARIABLES = {
    variable.key: variable
    for variable in (
        Variable("operator_name", _("Operator's name"), False, "张晓明"),
        Variable("operator_title", _("Operator's title"), False, "客户经理"),
        Variable("branch_name", _("Operator's branch"), False, "文三路网点"),
        Variable("salutation", _("Salutation (e.g. 王女士)"), True, "王女士"),
        Variable("customer_name", _("Customer's name"), True, "王丽"),
    )
}
SENDER_VARIABLES = [variable for variable in VARIABLES.values() if not variable.per_customer]
CUSTOMER_VARIABLES = [variable for variable in VARIABLES.values() if variable.per_customer]

# What a per-customer variable becomes when the customer is not known (yet): never an empty hole in the text.
FALLBACK_SALUTATION = "尊敬的客户"
FALLBACK_NAME = "客户"
# Two-character surnames common enough to matter for 王女士-style salutations.
_COMPOUND_SURNAMES = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐",
)  # fmt: skip


def used(text: str) -> list[str]:
    """The variable keys a text uses, in order of first use (unknown ones included)."""
    seen: list[str] = []
    for match in VARIABLE.finditer(text or ""):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return seen


def problems(text: str, *, per_customer_allowed: bool) -> list[str]:
    """What is wrong with the variables of a text, as messages for the author; empty when all is well."""
    errors = []
    for key in used(text):
        variable = VARIABLES.get(key)
        if variable is None:
            errors.append(str(_("{{%(key)s}} is not a variable.") % {"key": key}))
        elif variable.per_customer and not per_customer_allowed:
            errors.append(
                str(
                    _(
                        "{{%(key)s}} names the customer: a mass send delivers one text to every recipient, so it "
                        "is allowed only in welcome messages, operator tasks and quick replies."
                    )
                    % {"key": key}
                )
            )
    return errors


def surname(name: str) -> str:
    name = (name or "").strip()
    if name[:2] in _COMPOUND_SURNAMES:
        return name[:2]
    return name[:1]


def _is_chinese_name(name: str) -> bool:
    return 2 <= len(name) <= 4 and all("\u4e00" <= char <= "\u9fff" for char in name)


def salutation(*, name: str, gender: str) -> str:
    """王女士 / 王先生 for a Chinese name of known gender; the fallback otherwise (a WeChat nickname is no
    basis for a respectful form of address)."""
    name = (name or "").strip()
    if _is_chinese_name(name) and gender in ("M", "F"):
        return surname(name) + ("先生" if gender == "M" else "女士")
    return FALLBACK_SALUTATION


def sender_values(operator) -> dict[str, str]:
    if operator is None:
        return {}
    return {
        "operator_name": operator.name,
        "operator_title": operator.title or "",
        "branch_name": operator.branch.name if operator.branch_id else "",
    }


def customer_values(*, name: str = "", gender: str = "") -> dict[str, str]:
    return {"salutation": salutation(name=name, gender=gender), "customer_name": (name or "").strip() or FALLBACK_NAME}


def sample_values() -> dict[str, str]:
    return {variable.key: variable.sample for variable in VARIABLES.values()}


def fill(text: str, values: dict[str, str]) -> str:
    """The text with each variable replaced by its value; variables without a value are left as written."""
    return VARIABLE.sub(lambda match: values.get(match.group(1), match.group(0)), text or "")
