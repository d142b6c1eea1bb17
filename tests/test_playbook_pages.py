"""The playbook builder, the dry run and the campaign monitor, driven through the pages as a head-office admin."""

import pytest
from django.apps import apps
from django.urls import reverse

from campaigns.playbooks import services
from campaigns.playbooks.models import Enrolment, Playbook, PlaybookVersion
from tagging.models import Customer
from tests.playbook_helpers import approved_content, make_tag, publish

pytestmark = pytest.mark.django_db


def _form(**fields) -> dict:
    base = {"name": "工资次日理财", "description": "", "priority": "3", "reentry": "never", "cooldown_days": "30"}
    return base | fields


def test_list_and_empty_builder_render(bank, login):
    client = login("admin")
    assert client.get(reverse("playbooks:list")).status_code == 200
    body = client.get(reverse("playbooks:create")).content.decode()
    assert 'name="trigger-type"' in body and "add_step:send" in body


def test_builder_buttons_redraw_without_saving(bank, login):
    client = login("admin")
    tag = make_tag("新客")
    data = _form(**{"trigger-type": "tag_added", "trigger-tag": str(tag.pk), "op": "add_step:delay"})
    response = client.post(reverse("playbooks:builder"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="step" value="s1"' in body and 'name="step-s1-days"' in body
    data |= {"step": ["s1"], "step-s1-type": "delay", "step-s1-days": "2", "op": "add_step:tag"}
    body = client.post(reverse("playbooks:builder"), data, HTTP_HX_REQUEST="true").content.decode()
    assert 'value="2"' in body and 'name="step-s2-tag"' in body
    data |= {"step": ["s1", "s2"], "step-s2-type": "tag", "op": "up:s2"}
    body = client.post(reverse("playbooks:builder"), data, HTTP_HX_REQUEST="true").content.decode()
    assert body.index('value="s2"') < body.index('value="s1"')
    assert not Playbook.objects.exists()


def _full_post(tag, content) -> dict:
    return _form(
        **{
            "trigger-type": "date",
            "trigger-attribute": "payday",
            "trigger-offset_days": "1",
            "trigger-time": "10:00",
            "step": ["s1", "s2", "s3"],
            "step-s1-type": "send",
            "step-s1-content_item": str(content.pk),
            "step-s2-type": "delay",
            "step-s2-days": "3",
            "step-s3-type": "tag",
            "step-s3-action": "add",
            "step-s3-tag": str(tag.pk),
            "exit": ["e1"],
            "exit-e1-kind": "converted",
            "exit-e1-category": "wealth",
        }
    )


def test_save_then_publish_then_edit_makes_a_new_version(bank, login):
    client = login("admin")
    tag, content = make_tag("已推荐理财"), approved_content(bank)
    data = _full_post(tag, content)
    response = client.post(reverse("playbooks:create"), data | {"action": "save"})
    playbook = Playbook.objects.get()
    assert response.status_code == 302 and playbook.status == Playbook.Status.DRAFT
    response = client.post(reverse("playbooks:edit", args=[playbook.pk]), data | {"action": "publish"})
    assert response.status_code == 302
    playbook.refresh_from_db()
    assert playbook.status == Playbook.Status.ACTIVE and playbook.live_version.number == 1
    assert playbook.live_version.steps[0]["content_title"] == content.title
    # The published version is read-only; "edit" opens version 2 while version 1 stays live.
    body = client.get(reverse("playbooks:edit", args=[playbook.pk])).content.decode()
    assert "disabled" in body
    client.post(reverse("playbooks:new-draft", args=[playbook.pk]))
    draft = services.draft_of(playbook)
    assert draft.number == 2 and draft.steps == playbook.live_version.steps
    data["step-s2-days"] = "5"
    client.post(reverse("playbooks:edit", args=[playbook.pk]), data | {"action": "publish"})
    playbook.refresh_from_db()
    assert playbook.live_version.number == 2 and playbook.live_version.steps[1]["days"] == 5
    assert PlaybookVersion.objects.get(playbook=playbook, number=1).steps[1]["days"] == 3


def test_publish_shows_plain_problems(bank, login):
    client = login("admin")
    data = _form(**{"trigger-type": "", "step": ["s1"], "step-s1-type": "task", "step-s1-title": ""})
    response = client.post(reverse("playbooks:create"), data | {"action": "publish"})
    playbook = Playbook.objects.get()
    assert playbook.status == Playbook.Status.DRAFT
    body = client.get(response["Location"]).content.decode()
    assert "alert-warning" in body


def _counts() -> dict:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_dry_run_shows_each_customers_journey_and_writes_nothing(bank, login):
    client = login("admin")
    tag, content = make_tag("已推荐理财"), approved_content(bank)
    Customer.objects.filter(pk=bank.customers["a_own"].pk).update(payday=15)
    data = _full_post(tag, content)
    before = _counts()
    response = client.post(
        reverse("playbooks:create"), data | {"action": "dryrun", "dryrun_numbers": "CA0000000001 CX9999999999"}
    )
    assert response.status_code == 200
    assert _counts() == before
    result = response.context["dryrun"]
    (journey,) = result.journeys
    assert journey.customer.customer_no == "CA0000000001"
    assert journey.entry_at.day == 16 and journey.entry_at.hour == 10
    kinds = [event.kind for event in journey.events]
    assert kinds == ["send", "wait", "tag", "end"]
    assert "赵甲" in journey.events[0].detail  # the owner's name filled into {{operator_name}}
    assert result.not_found == ["CX9999999999"]


def test_dry_run_sample_is_limited_to_the_users_scope(bank, login):
    """A branch manager cannot open the builder; through the service the sample stays in their scope."""
    from campaigns.playbooks import dryrun, spec

    tag = make_tag("手工")
    clean = spec.validate(
        {"trigger": {"type": "manual"}, "steps": [{"key": "s1", "type": "tag", "action": "add", "tag": tag.pk}]}
    )
    result = dryrun.dry_run(clean, playbook_id=1, priority=5, user=bank.user("manager_a"), sample=50)
    numbers = {journey.customer.customer_no for journey in result.journeys}
    assert numbers and all(number.startswith("CA") for number in numbers)


def test_monitor_counts_and_manual_enrolment_in_scope(bank, login):
    tag = make_tag("手工入组")
    playbook = publish(
        bank,
        trigger={"type": "manual"},
        steps=[{"type": "delay", "days": 1}, {"type": "tag", "action": "add", "tag": tag.pk}],
    )
    client = login("admin")
    response = client.post(
        reverse("playbooks:monitor", args=[playbook.pk]), {"numbers": "CA0000000001, CB0000000001 NOPE"}
    )
    assert response.status_code == 302
    assert set(Enrolment.objects.values_list("customer__customer_no", flat=True)) == {"CA0000000001", "CB0000000001"}
    from campaigns.playbooks import runner

    runner.tick()
    page = client.get(reverse("playbooks:monitor", args=[playbook.pk]))
    assert page.status_code == 200
    assert page.context["states"] == {"active": 2}
    (figures,) = page.context["versions"]
    assert [step.waiting for step in figures.steps] == [2, 0]


def test_lifecycle_buttons(bank, login):
    tag = make_tag("生命周期")
    playbook = publish(bank, trigger={"type": "manual"}, steps=[{"type": "tag", "action": "add", "tag": tag.pk}])
    client = login("admin")
    client.post(reverse("playbooks:pause", args=[playbook.pk]))
    assert Playbook.objects.get(pk=playbook.pk).status == Playbook.Status.PAUSED
    client.post(reverse("playbooks:resume", args=[playbook.pk]))
    assert Playbook.objects.get(pk=playbook.pk).status == Playbook.Status.ACTIVE
    client.post(reverse("playbooks:new-draft", args=[playbook.pk]))
    client.post(reverse("playbooks:discard", args=[playbook.pk]))
    assert services.draft_of(playbook) is None
    client.post(reverse("playbooks:archive", args=[playbook.pk]))
    assert Playbook.objects.get(pk=playbook.pk).status == Playbook.Status.ARCHIVED
    assert client.post(reverse("playbooks:edit", args=[playbook.pk]), {"action": "save"}).status_code == 302
