"""Data-scope probes of the playbook pages, for tests/test_url_scope.py.

Playbooks are whole-bank by design (head office builds them for every branch): the gate is the scope. Only
head-office playbook admins (and superusers) enter; everyone else gets 403 on every page and button. What an
admin may then touch of customers — dry-run samples, manual enrolment — comes from the scope selector (see
tests/test_playbook_pages.py). Each probe has its positive control.
"""

from django.urls import reverse

DENIED = ("operator_a", "lead_a", "manager_a", "manager_b", "reviewer", "nobody")


def _playbook(ctx, *, publish: bool = True):
    from campaigns.playbooks import services
    from tagging.models import Tag, TagGroup

    group, _ = TagGroup.objects.get_or_create(name="探针剧本")
    tag, _ = Tag.objects.get_or_create(group=group, name="探针剧本标签", kind=Tag.Kind.EVENT)
    draft = {"trigger": {"type": "manual"}, "steps": [{"key": "s1", "type": "tag", "action": "add", "tag": tag.pk}]}
    playbook = services.playbook_create(name="探针剧本", draft=draft, actor=ctx.bank.user("admin"))
    if publish:
        services.playbook_publish(playbook=playbook, actor=ctx.bank.user("admin"))
        playbook.refresh_from_db()
    return playbook


def gate(method: str, *, args=None, ok=(200, 302), data=None):
    def probe(ctx, name):
        for persona in DENIED:
            url = reverse(name, args=args(ctx) if args else None)
            response = getattr(ctx.login(persona), method)(url, data or {})
            assert response.status_code == 403, (persona, response.status_code)
        url = reverse(name, args=args(ctx) if args else None)
        for persona in ("admin", "superuser"):
            response = getattr(ctx.login(persona), method)(url, data or {})
            assert response.status_code in ok, (persona, response.status_code)

    return probe


def _published(ctx):
    return [_playbook(ctx).pk]


def _paused(ctx):
    from campaigns.playbooks import services

    playbook = _playbook(ctx)
    services.playbook_pause(playbook=playbook, actor=ctx.bank.user("admin"))
    return [playbook.pk]


def _with_draft(ctx):
    from campaigns.playbooks import services

    playbook = _playbook(ctx)
    services.playbook_save(
        playbook=playbook,
        name=playbook.name,
        draft=services.version_draft(playbook.live_version),
        actor=ctx.bank.user("admin"),
    )
    return [playbook.pk]


def probe_monitor(ctx, name):
    """The monitor and its manual enrolment: only playbook admins; numbers outside the admin's scope (none,
    for a whole-bank role) would be skipped by the scope selector."""
    from campaigns.playbooks.models import Enrolment

    gate("get", args=_published)(ctx, name)
    playbook_pk = _published(ctx)[0]
    url = reverse(name, args=[playbook_pk])
    for persona in DENIED:
        assert ctx.login(persona).post(url, {"numbers": "CB0000000001"}).status_code == 403, persona
    assert not Enrolment.objects.filter(playbook_id=playbook_pk).exists()
    assert ctx.login("admin").post(url, {"numbers": "CB0000000001"}).status_code == 302
    assert Enrolment.objects.filter(playbook_id=playbook_pk, customer__customer_no="CB0000000001").exists()


PROBES = {
    "playbooks:list": gate("get"),
    "playbooks:create": gate("get"),
    "playbooks:builder": gate("post", data={"op": "add_step:delay"}),
    "playbooks:edit": gate("get", args=_published),
    "playbooks:new-draft": gate("post", args=_published),
    "playbooks:pause": gate("post", args=_published),
    "playbooks:resume": gate("post", args=_paused),
    "playbooks:discard": gate("post", args=_with_draft),
    "playbooks:archive": gate("post", args=_published),
    "playbooks:monitor": probe_monitor,
}
