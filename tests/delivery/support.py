"""Helpers of the delivery tests: a WeCom corp in our database and the same corp in the sandbox, approved content,
and the engine's rounds driven by hand (tasks called directly, as beat and the workers would)."""

import contextlib
import itertools
import sqlite3

from django.utils import timezone

from campaigns.delivery import dispatch, results
from tagging.models import Customer, FollowRelationship
from tests.campaigns_support import approved
from workbench.org.models import Operator

_numbers = itertools.count(1)


def add_customers(operator: Operator, n: int, *, prefix: str = "wmD", follow: bool = True) -> list[Customer]:
    """`n` customers owned by `operator`, each a WeCom contact it follows (bulk: no PII)."""
    start = next(_numbers) * 100_000
    customers = Customer.objects.bulk_create(
        [
            Customer(
                customer_no=f"D{start + i:011d}",
                name=f"客户{start + i}",
                external_userid=f"{prefix}{start + i}",
                owner=operator,
                branch_id=operator.branch_id,
            )
            for i in range(n)
        ]
    )
    if follow:
        now = timezone.now()
        FollowRelationship.objects.bulk_create(
            [FollowRelationship(customer=c, operator=operator, added_at=now) for c in customers]
        )
    return customers


def corp_payload() -> dict:
    """Our database as WeCom's corp: active operators, WeCom contacts and live follows."""
    members = [
        {"userid": userid, "name": name, "department": [1]}
        for userid, name in Operator.objects.filter(status=Operator.Status.ACTIVE)
        .exclude(wecom_userid__isnull=True)
        .values_list("wecom_userid", "name")
    ]
    contacts = [
        {"external_userid": external, "name": name, "type": 1}
        for external, name in Customer.objects.exclude(external_userid__isnull=True).values_list(
            "external_userid", "name"
        )
    ]
    active = {member["userid"] for member in members}
    follows = [
        {"userid": userid, "external_userid": external, "createtime": 1_700_000_000}
        for userid, external in FollowRelationship.objects.filter(deleted_at__isnull=True)
        .exclude(customer__external_userid__isnull=True)
        .values_list("operator__wecom_userid", "customer__external_userid")
        if userid in active
    ]
    return {
        "departments": [{"id": 1, "name": "示范银行", "parentid": 0}],
        "members": members,
        "contacts": contacts,
        "follows": follows,
    }


def seed_corp(sandbox) -> None:
    sandbox.seed(corp_payload())


def mass_content(bank, text="您好，我是{{operator_name}}，本月理财产品已上线。", **kw):
    return approved(bank, text=text, **kw).current


def run_rounds(sandbox, *, rounds: int = 3, confirm: bool = True) -> None:
    """What beat and the workers do, by hand: assemble, send, members confirm, read results."""
    for _ in range(rounds):
        dispatch.assemble_due()
        dispatch.send_waiting(budget_seconds=60)
        if confirm:
            for message in received(sandbox)["groupmsgs"]:
                if any(task["status"] == 0 and not task["skipped"] for task in message["tasks"]):
                    sandbox.confirm(message["msgid"])
        results.poll_due(budget_seconds=60)


def received(sandbox, limit: int = 5000) -> dict:
    return sandbox._control("GET", "received", limit=limit)


def sandbox_results(sandbox) -> list[tuple]:
    """Every (msgid, userid, external_userid, status) the sandbox holds, read from its state file."""
    with contextlib.closing(sqlite3.connect(sandbox.state_path, timeout=30)) as db:
        return db.execute("SELECT msgid, userid, external_userid, status FROM groupmsg_result").fetchall()


def sandbox_messages(sandbox) -> list[str]:
    with contextlib.closing(sqlite3.connect(sandbox.state_path, timeout=30)) as db:
        return [row[0] for row in db.execute("SELECT msgid FROM groupmsg")]


def no_quiet_hours(**caps) -> None:
    """Tests that talk to the sandbox run at whatever time it is: quiet hours off, caps as given."""
    from datetime import time

    from campaigns.delivery.policy import get_policy

    policy = get_policy()
    policy.quiet_start = policy.quiet_end = time(0, 0)
    for name, value in caps.items():
        setattr(policy, name, value)
    policy.save()
