"""Building blocks of the playbook tests: tags, approved content, published playbooks, running the tick."""

import datetime as dt

from django.utils import timezone

from campaigns.playbooks import services
from campaigns.playbooks.models import Enrolment
from tagging.models import Tag, TagGroup

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday, 17:00 in Shanghai


def make_tag(name: str, *, kind=Tag.Kind.EVENT, group: str = "运营事件") -> Tag:
    tag_group, _ = TagGroup.objects.get_or_create(name=group)
    return Tag.objects.create(group=tag_group, name=name, kind=kind)


def approved_content(bank, title: str = "工资理财推荐", text: str = "{{operator_name}}为您推荐本月新发短期理财。"):
    from campaigns.content.services import content_approve, content_create, content_submit

    admin, reviewer = bank.user("admin"), bank.user("reviewer")
    item = content_create(actor=admin, title=title, use="mass", text=text)
    version = item.versions.get()
    content_submit(version=version, actor=admin)
    content_approve(version=version, reviewer=reviewer)
    item.refresh_from_db()
    return item


def publish(
    bank, *, trigger, steps, exits=(), audience=(), reentry="never", cooldown_days=30, name="测试剧本", now=None
):
    admin = bank.user("admin")
    draft = {
        "trigger": trigger,
        "audience": list(audience),
        "steps": [{"key": f"s{index + 1}", **step} for index, step in enumerate(steps)],
        "exits": list(exits),
        "reentry": reentry,
        "cooldown_days": cooldown_days,
    }
    playbook = services.playbook_create(name=name, draft=draft, actor=admin)
    services.playbook_publish(playbook=playbook, actor=admin, now=now)
    playbook.refresh_from_db()
    return playbook


def enrolment(playbook, customer) -> Enrolment:
    return Enrolment.objects.filter(playbook=playbook, customer=customer).order_by("-entry").first()


def local(year, month, day, hour=0, minute=0) -> dt.datetime:
    return timezone.make_aware(dt.datetime(year, month, day, hour, minute), timezone.get_current_timezone())
