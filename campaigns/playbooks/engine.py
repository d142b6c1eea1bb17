"""The only door from playbooks to the delivery engine (`campaigns.delivery`, see docs/delivery-contract.md).

Playbooks call exactly these contract functions and nothing else of the engine:
`services.plan_sends`, `services.create_operator_task`, `services.delivery_funnel` and `policy.check`.
They are imported when called, so the two apps can be loaded in any order.
"""

SOURCE_KIND = "playbook"  # Delivery.source_kind / OperatorTask.source_kind of everything a playbook causes
EXIT_REASONS = ("dnd", "opted_out")  # policy suppressions that end a journey (the customer asked for quiet)


def plan_sends(*, customer_ids, content_version, source_id: int, step_key: str, due_at, priority: int, actor=None):
    from campaigns.delivery.services import plan_sends as engine_plan_sends

    return engine_plan_sends(
        customer_ids=customer_ids,
        content_version=content_version,
        source_kind=SOURCE_KIND,
        source_id=source_id,
        step_key=step_key,
        due_at=due_at,
        priority=priority,
        actor=actor,
    )


def create_operator_task(
    *, customer_id: int, kind: str, title: str, script: str, due_at, source_id: int, step_key: str
):
    from campaigns.delivery.services import create_operator_task as engine_create_task

    return engine_create_task(
        customer_id=customer_id,
        operator_id=None,  # the customer's owner (管户)
        kind=kind,
        title=title,
        script=script,
        due_at=due_at,
        source_kind=SOURCE_KIND,
        source_id=source_id,
        step_key=step_key,
    )


def delivery_funnel(*, source_id: int) -> dict:
    try:
        from campaigns.delivery.services import delivery_funnel as engine_funnel
    except ImportError:  # the engine keeps its reads in selectors
        from campaigns.delivery.selectors import delivery_funnel as engine_funnel

    return engine_funnel(source_kind=SOURCE_KIND, source_id=source_id)


FUNNEL_COUNTS = (
    "planned", "suppressed", "waiting", "submitted", "confirmed", "delivered", "failed", "cancelled", "clicked",
    "converted", "tasks", "tasks_open",
)  # fmt: skip


def merge_funnels(funnels: list[dict]) -> dict:
    """The funnels of several versions as one: counts and reasons added up, settings kept."""
    merged: dict = dict.fromkeys(FUNNEL_COUNTS, 0)
    merged["reasons"] = {}
    for funnel in funnels:
        for key, value in funnel.items():
            if key in FUNNEL_COUNTS:
                merged[key] += value or 0
            elif key == "reasons":
                for reason, n in (value or {}).items():
                    merged["reasons"][reason] = merged["reasons"].get(reason, 0) + n
            else:
                merged.setdefault(key, value)
    return merged


def refusals() -> tuple[type[Exception], ...]:
    """What the engine raises when it will not plan a send or create a task (a message for people)."""
    from campaigns.delivery.services import DeliveryError

    return (DeliveryError,)


def policy_check(customer_ids, *, at, priority: int):
    from campaigns.delivery.policy import check

    return check(customer_ids, at=at, priority=priority)


def quiet_customers(customer_ids, *, at, priority: int) -> dict[int, str]:
    """Customers who asked not to be disturbed or opted out: {customer id: reason}."""
    if not customer_ids:
        return {}
    verdict = policy_check(list(customer_ids), at=at, priority=priority)
    return {pk: reason for pk, reason in verdict.suppressed.items() if reason in EXIT_REASONS}


def available() -> bool:
    try:
        from campaigns.delivery import services  # noqa: F401
    except ImportError:
        return False
    return True
