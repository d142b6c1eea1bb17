"""Review of the customer 360 page's actions and the operator's home: each test pins down one finding."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.delivery.models import OperatorTask

pytestmark = pytest.mark.django_db


def _task(bank, persona: str = "operator_a", customer: str = "a_own") -> OperatorTask:
    due = timezone.now() + dt.timedelta(hours=1)
    return OperatorTask.objects.create(
        customer=bank.customers[customer],
        operator=bank.operators[persona],
        kind="call",
        title="回访",
        due_at=due,
        original_due_at=due,
        source_kind="test",
        source_id=1,
        step_key="call",
    )


@pytest.mark.parametrize("name", ["delivery:task-done", "delivery:task-postpone"])
def test_the_home_pages_task_forms_never_redirect_off_the_workbench(bank, login, name):
    """The home page posts `next` with its task forms; the answer redirected to whatever `next` said."""
    task = _task(bank)
    until = (timezone.localtime() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    data = {"outcome": OperatorTask.Outcome.choices[0][0], "until": until}
    client = login("operator_a")
    for target in ("https://evil.example/phish", "//evil.example/x", "/\\evil.example"):
        response = client.post(reverse(name, args=[task.pk]), data | {"next": target})
        assert response.status_code == 302
        assert "evil.example" not in response["Location"], target
        task.refresh_from_db()
        task.status = OperatorTask.Status.OPEN
        task.save(update_fields=["status"])
    home = client.post(reverse(name, args=[task.pk]), data | {"next": reverse("home")})
    assert home["Location"] == reverse("home")
