"""Facts rows for report tests, written by hand so every expected figure can be computed on paper."""

from datetime import date, timedelta

from workbench.supervision.models import OperatorDay

# A Wednesday: "last 7 days" from TODAY runs 2026-11-04 … 2026-11-10.
TODAY = date(2026, 11, 11)
DAY1 = date(2026, 11, 9)
DAY2 = date(2026, 11, 10)


def fact(operator, day, **figures) -> OperatorDay:
    return OperatorDay.objects.create(
        day=day, operator=operator, branch=operator.branch, branch_path=operator.branch.path, **figures
    )


def standard_facts(bank) -> dict:
    """Two days of facts for branch A's people and one for branch B's operator.

    operator_a (甲网点), operator_a2 (甲网点), lead_a (甲支行 itself), operator_b (乙网点); the day before DAY1
    (outside a DAY1–DAY2 period) carries a row that must never be counted.
    """
    ops = bank.operators
    rows = {
        "a1": fact(ops["operator_a"], DAY1, customers_owned=10, effective_customers=5, customers_new=2,
                   lost_by_customer=1, tasks_due=4, tasks_done=4, tasks_on_time=3, mass_tasks_received=2,
                   mass_tasks_confirmed=1, confirm_delay_seconds=600, deliveries=20, clicks=4, conversions=1,
                   conversion_amount=1000, conversations_started=4, replied_within_5min=3),
        "a2": fact(ops["operator_a"], DAY2, customers_owned=12, effective_customers=6, customers_new=3,
                   lost_by_operator=1, tasks_due=2, tasks_done=1, tasks_on_time=1, mass_tasks_received=2,
                   mass_tasks_confirmed=2, confirm_delay_seconds=1200, deliveries=10, clicks=1, conversions=2,
                   conversion_amount=2500.50, conversations_started=2, replied_within_5min=1),
        "a2_1": fact(ops["operator_a2"], DAY1, customers_owned=7, effective_customers=7, customers_new=1,
                     deliveries=5, clicks=5),
        "a2_2": fact(ops["operator_a2"], DAY2, customers_owned=8, effective_customers=4, lost_by_customer=2,
                     deliveries=5, conversions=4, conversion_amount=100),
        "lead": fact(ops["lead_a"], DAY2, customers_owned=3, effective_customers=3, customers_new=1),
        "b": fact(ops["operator_b"], DAY2, customers_owned=99, effective_customers=50, customers_new=9,
                  conversions=9, conversion_amount=99999),
        "early": fact(ops["operator_a"], DAY1 - timedelta(days=1), customers_owned=500, customers_new=50,
                      conversions=50),
    }  # fmt: skip
    return rows
