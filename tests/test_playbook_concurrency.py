"""Two ticks at once: due enrolments are shared out by SKIP LOCKED and every step happens exactly once.

Real threads with their own PostgreSQL connections, against committed data (transactional test).
"""

import threading

import pytest
from django.db import connection, transaction

from campaigns.playbooks import runner
from campaigns.playbooks.enrol import enrol
from campaigns.playbooks.models import Enrolment, StepRun
from tagging.models import Customer, CustomerTag, TagChange
from tests.factories import OperatorFactory
from tests.playbook_helpers import local, make_tag, publish

pytestmark = pytest.mark.django_db(transaction=True)

NOW = local(2026, 3, 2, 12)


def _customers(n: int) -> list[int]:
    owner = OperatorFactory()
    Customer.objects.bulk_create(
        [
            Customer(customer_no=f"CC{index:010d}", name=f"并发{index}", owner=owner, branch=owner.branch)
            for index in range(n)
        ]
    )
    return list(Customer.objects.filter(owner=owner).values_list("pk", flat=True))


def _in_thread(target, results, index, barrier):
    def run():
        try:
            barrier.wait(timeout=30)
            results[index] = target()
        except Exception as error:  # noqa: BLE001 - reported by the test
            results[index] = error
        finally:
            connection.close()

    return threading.Thread(target=run)


def test_two_concurrent_ticks_run_each_step_once(bank):
    tag, later = make_tag("并发标签"), make_tag("并发之后")
    steps = [{"type": "tag", "action": "add", "tag": tag.pk}, {"type": "tag", "action": "add", "tag": later.pk}]
    playbook = publish(bank, trigger={"type": "manual"}, steps=steps, now=NOW)
    ids = _customers(400)
    assert len(enrol(playbook.live_version, [(pk, "t", NOW) for pk in ids], now=NOW)) == 400
    results: list = [None, None]
    barrier = threading.Barrier(2)
    threads = [_in_thread(lambda: runner.tick(NOW, batch=25), results, index, barrier) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(isinstance(result, Exception) for result in results), results
    assert sum(result["claimed"] for result in results) == 400
    assert StepRun.objects.count() == 800
    assert CustomerTag.objects.filter(tag__in=[tag, later]).count() == 800
    assert TagChange.objects.filter(tag__in=[tag, later]).count() == 800
    assert Enrolment.objects.filter(state=Enrolment.State.COMPLETED).count() == 400


def test_rows_claimed_by_one_tick_are_skipped_by_another(bank):
    tag = make_tag("锁定")
    playbook = publish(
        bank, trigger={"type": "manual"}, steps=[{"type": "tag", "action": "add", "tag": tag.pk}], now=NOW
    )
    ids = _customers(60)
    enrol(playbook.live_version, [(pk, "t", NOW) for pk in ids], now=NOW)
    claimed, release = threading.Event(), threading.Event()
    held: list = []

    def holder():
        try:
            with transaction.atomic():
                held.extend(runner.claim(playbook.pk, NOW, 20))
                claimed.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    assert claimed.wait(timeout=30)
    try:
        stats = runner.tick(NOW)
    finally:
        release.set()
        thread.join(timeout=60)
    assert stats["claimed"] == 40
    done = set(StepRun.objects.values_list("enrolment_id", flat=True))
    assert not done & {item.id for item in held}
    assert runner.tick(NOW)["claimed"] == 20  # released without being run: claimed again, run once
    assert StepRun.objects.count() == 60
