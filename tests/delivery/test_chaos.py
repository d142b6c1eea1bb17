"""`make chaos`, smaller: a real Celery worker killed with SIGKILL mid-dispatch and Redis restarted, against the
WeCom sandbox at 20 % errors with 45009 storms and calls that time out after WeCom created the task. Every customer
ends in exactly one send task, each send task is one mass message in the sandbox, nobody is missed."""

import pytest
from django.db import connection

from bench.chaos import run_chaos
from campaigns.delivery.models import Delivery

pytestmark = pytest.mark.django_db(transaction=True)


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_a_killed_worker_and_a_restarted_redis_lose_nothing_and_send_nothing_twice():
    counts = run_chaos(
        3000, database_url=_database_url(), kills=1, redis_restart=True, timeout=600, operators=10, big=1200
    )
    assert counts["worker_kills"] == 1 and counts["redis_restarts"] == 1, counts
    assert counts["duplicates"] == 0 and counts["lost"] == 0, counts
    assert counts["planned"] == counts["in_send_tasks"] == counts["delivered"] == 3000, counts
    assert counts["sent_tasks"] == counts["sandbox_messages"] == 11, counts
    assert not Delivery.objects.exclude(status="delivered").exists()
