"""Conditions for the starter library's rule tags (tagging/tags/starter.py creates the tags only).

`seed_starter_rules()` gives each starter rule tag that has no rule yet the condition below and changes nothing
else, so it is safe to run again and leaves an admin's edits alone. Every threshold is a starting point the
head office adjusts in the rule editor (有效客户's AUM line, for one, is each bank's own).

The 生命周期 stages exclude each other in this order: 流失预警, 新客, 活跃, 沉默 — each stage's condition says
"none of" the signals of the stages before it, written out rather than read from the other tags, so that the
order in which rules are evaluated does not matter.
"""

from django.utils import timezone

from tagging.models import Tag
from tagging.segments import conditions as lang
from tagging.segments.evaluation import next_run_after, rule_run_execute
from tagging.segments.models import Rule, RuleRun


def _row(field_key, op, value=None) -> dict:
    return {"field": field_key, "op": op} | ({"value": value} if value is not None else {})


def _group(match, *rules) -> dict:
    return {"match": match, "rules": list(rules)}


_CHURN = _group(
    "any",
    _row("behaviour", "at_least", {"source": "follow_deleted_by_customer", "days": 90, "count": 1}),
    _group("all", _row("last_transaction_date", "before_days", 60), _row("last_transaction_date", "within_days", 90)),
)
_NEW = _group(
    "any",
    _row("created_at", "within_days", 30),
    _row("behaviour", "at_least", {"source": "follow_added", "days": 30, "count": 1}),
)
_ACTIVE = _group(
    "any",
    _row("last_transaction_date", "within_days", 30),
    _row("behaviour", "at_least", {"source": "event:note", "days": 30, "count": 1}),
)
_SILENT = _group(
    "all",
    _group("any", _row("last_transaction_date", "before_days", 90), _row("last_transaction_date", "is_empty")),
    _row("behaviour", "fewer_than", {"source": "event:note", "days": 90, "count": 1}),
)

STARTER_RULES: dict[tuple[str, str], dict] = {
    ("资产等级", "百万级"): _group("all", _row("aum", "gte", "1000000")),
    ("资产等级", "50万级"): _group("all", _row("aum", "between", ["500000", "999999.99"])),
    ("资产等级", "10万级"): _group("all", _row("aum", "between", ["100000", "499999.99"])),
    ("资产等级", "大众"): _group("all", _row("aum", "lte", "99999.99")),
    ("代发客群", "白领"): _group("all", _row("occupation_group", "in", ["white_collar"]), _row("payroll", "is_set")),
    ("代发客群", "产业工人"): _group(
        "all", _row("occupation_group", "in", ["industrial_worker"]), _row("payroll", "is_set")
    ),
    ("代发客群", "退休"): _group("any", _row("occupation_group", "in", ["retiree"]), _row("age", "gte", 60)),
    ("生命周期", "流失预警"): _group("all", _CHURN),
    ("生命周期", "新客"): _group("all", _NEW, _group("none", _CHURN)),
    ("生命周期", "活跃"): _group("all", _ACTIVE, _group("none", _CHURN, _NEW)),
    ("生命周期", "沉默"): _group("all", _SILENT, _group("none", _CHURN, _NEW)),
    ("有效客户", "有效客户"): _group("all", _row("aum", "gte", "10000"), _row("wecom", "is_set")),
}


def seed_starter_rules(*, evaluate: bool = False) -> dict:
    """Rules for the starter rule tags that have none. `evaluate`: run each at once, in this process (the demo;
    elsewhere the scheduler's first run at 02:00, or "run now", fills them)."""
    created = []
    for (group_name, tag_name), condition in STARTER_RULES.items():
        tag = Tag.objects.filter(
            group__name=group_name, name=tag_name, kind=Tag.Kind.RULE, is_active=True, rule__isnull=True
        ).first()
        if tag is None:
            continue
        created.append(
            Rule.objects.create(
                tag=tag,
                condition=lang.validate(condition),
                frequency=Rule.Frequency.DAILY,
                next_run_at=next_run_after(Rule.Frequency.DAILY, timezone.now()),
            )
        )
    added = 0
    if evaluate:
        for rule in created:
            run = RuleRun.objects.create(rule=rule, trigger=RuleRun.Trigger.SAVED, condition=rule.condition)
            added += rule_run_execute(run_id=run.pk).added
    return {"rules": len(created), "tagged": added}
