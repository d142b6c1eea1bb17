"""Data-scope probes of segments and rule tags, for tests/test_url_scope.py.

Segments belong to their creator unless shared; a shared segment is counted, sampled and exported within each
viewer's own scope, and its condition never names a branch or operator outside that scope. Rule tags are
whole-bank by design (their gate is the scope: head-office rule admins only). Each probe has its positive control.
"""

import json

from django.urls import reverse

from tagging.segments import bitmaps, services
from tagging.segments import conditions as lang
from tagging.segments.evaluation import rule_run_execute
from tagging.segments.models import Rule, RuleRun, Segment

A_PERSONAS = ("operator_a", "lead_a", "manager_a")
B_MARKERS = ("CB0000000001", "乙客户壹")
B_NAMES = ("乙分行", "乙支行", "乙网点", "孙乙")
EVERYONE = {"match": "all", "rules": [{"field": "aum", "op": "gte", "value": "0"}]}


def _text(response) -> str:
    return response.content.decode(errors="replace")


def _absent(response, markers, where):
    body = _text(response)
    for marker in markers:
        assert marker not in body, f"{where}: {marker!r} leaked"


def _b_condition(ctx) -> dict:
    """Branch B's subtree or operator_b's customers: it names B's branch and operator."""
    return {
        "match": "any",
        "rules": [
            {"field": "branch", "op": "in_subtree", "value": [ctx.bank.branch_b.pk]},
            {"field": "owner", "op": "in", "value": [ctx.bank.operators["operator_b"].pk]},
        ],
    }


def _b_segments(ctx) -> tuple[Segment, Segment]:
    """manager_b's shared segment naming branch B, and a private one."""
    manager_b = ctx.bank.user("manager_b")
    shared = services.segment_create(name="共享客群", condition=_b_condition(ctx), owner=manager_b, shared=True)
    private = services.segment_create(name="乙行私有客群", condition=EVERYONE, owner=manager_b)
    bitmaps.bitmaps_rebuild_attributes()
    return shared, private


def _scoped_count(ctx, persona, condition) -> int:
    from workbench.org.scope import visible_customers

    return visible_customers(ctx.bank.user(persona)).filter(lang.compile_q(lang.validate(condition))).count()


def probe_segment_list(ctx, name):
    shared, private = _b_segments(ctx)
    for persona in A_PERSONAS:
        response = ctx.login(persona).get(reverse(name))
        assert response.status_code == 200, persona
        counts = {segment.pk: segment.member_count for segment in response.context["segments"]}
        assert private.pk not in counts, persona
        # operator_a follows b_shared, so it is theirs to count; nobody else in A sees a B customer.
        assert counts[shared.pk] == _scoped_count(ctx, persona, shared.condition), persona
        _absent(response, (*B_NAMES, *B_MARKERS, "乙行私有客群"), f"{name} as {persona}")
    control = ctx.login("manager_b").get(reverse(name))
    assert {s.pk: s.member_count for s in control.context["segments"]} == {shared.pk: 2, private.pk: 2}
    assert "乙分行" in _text(control)


def _builder_text(response) -> str:
    """The page and its builder catalogue decoded (json_script writes non-ASCII as \\u escapes)."""
    return _text(response) + json.dumps(response.context["builder_config"], ensure_ascii=False)


def probe_segment_form(ctx, name):
    """The new-segment editor offers only the viewer's branches (operators come from the scoped search)."""
    for persona in A_PERSONAS:
        response = ctx.login(persona).get(reverse(name))
        assert response.status_code == 200, persona
        body = _builder_text(response)
        for marker in B_NAMES:
            assert marker not in body, (persona, marker)
        assert "甲网点" in body, persona
    assert "乙网点" in _builder_text(ctx.login("manager_b").get(reverse(name)))


def probe_segment_edit(ctx, name):
    shared, private = _b_segments(ctx)
    for persona in A_PERSONAS:
        client = ctx.login(persona)
        assert client.get(reverse(name, args=[private.pk])).status_code == 404, persona
        response = client.get(reverse(name, args=[shared.pk]))
        assert response.status_code == 200 and response.context["editable"] is False
        body = _builder_text(response)
        for marker in B_NAMES:
            assert marker not in body, (persona, marker)
        assert client.post(reverse(name, args=[shared.pk]), {"name": "x", "condition": "{}"}).status_code == 403
    control = ctx.login("manager_b").get(reverse(name, args=[private.pk]))
    assert control.status_code == 200 and control.context["editable"] is True


def probe_segment_post(ok_status=302):
    """Delete and freeze: another's private segment is not found; a shared one is not theirs to change."""

    def probe(ctx, name):
        shared, private = _b_segments(ctx)
        for persona in A_PERSONAS:
            assert ctx.login(persona).post(reverse(name, args=[private.pk])).status_code == 404, persona
            assert ctx.login(persona).post(reverse(name, args=[shared.pk])).status_code == 403, persona
        assert Segment.objects.filter(pk=private.pk).exists() and not private.snapshots.exists()
        assert ctx.login("manager_b").post(reverse(name, args=[private.pk])).status_code == ok_status

    return probe


def probe_segment_export(ctx, name):
    from workbench.exports.models import ExportJob
    from workbench.exports.services import export_path, export_run

    shared, private = _b_segments(ctx)
    assert ctx.login("operator_a").post(reverse(name, args=[shared.pk]), {"format": "csv"}).status_code == 403
    everyone = services.segment_create(name="全部", condition=EVERYONE, owner=ctx.bank.user("admin"), shared=True)
    for persona in ("lead_a", "manager_a"):
        client = ctx.login(persona)
        assert client.post(reverse(name, args=[private.pk]), {"format": "csv"}).status_code == 404, persona
        for segment in (shared, everyone):
            assert client.post(reverse(name, args=[segment.pk]), {"format": "csv"}).status_code == 302
            job = export_run(job_id=ExportJob.objects.latest("pk").pk)
            assert job.requested_by == ctx.bank.user(persona)
            written = export_path(job).read_text(encoding="utf-8-sig")
            for marker in B_MARKERS:
                assert marker not in written, (persona, segment.name)
    ctx.login("manager_b").post(reverse(name, args=[private.pk]), {"format": "csv"})
    control = export_run(job_id=ExportJob.objects.latest("pk").pk)
    assert "CB0000000001" in export_path(control).read_text(encoding="utf-8-sig")


def probe_preview(ctx, name):
    bitmaps.bitmaps_rebuild_attributes()
    conditions = [EVERYONE, {"match": "all", "rules": []}, {"match": "all", "rules": [
        {"field": "occupation_group", "op": "in", "value": ["retiree"]}]}]  # fmt: skip
    for persona in A_PERSONAS:
        client = ctx.login(persona)
        for condition in conditions:
            response = client.post(reverse(name), {"condition": json.dumps(condition)})
            assert response.status_code == 200
            expected = _scoped_count(ctx, persona, condition if condition["rules"] else EVERYONE)
            assert response.context["result"].count == expected, (persona, condition)
            _absent(response, B_MARKERS, f"{name} as {persona}")
        # Naming B's branch is refused, not counted.
        refused = client.post(reverse(name), {"condition": json.dumps(_b_condition(ctx))})
        assert refused.context.get("errors"), persona
    control = ctx.login("manager_b").post(reverse(name), {"condition": json.dumps(EVERYONE)})
    assert "乙客户壹" in _text(control)


def probe_operator_options(ctx, name):
    for persona in A_PERSONAS:
        for query in ("孙", "operator_b", "op"):
            response = ctx.login(persona).get(reverse(name), {"q": query})
            assert response.status_code == 200
            _absent(response, ("孙乙", "operator_b"), f"{name} as {persona} for {query}")
    control = ctx.login("manager_b").get(reverse(name), {"q": "孙"})
    assert [row["name"] for row in control.json()["results"]] == ["孙乙 (operator_b)"]


def _rule(ctx) -> Rule:
    """A rule on a rule tag that exists already (no WeCom call: the probes never reach a WeCom server)."""
    from tagging.models import Tag, TagGroup

    group, _created = TagGroup.objects.get_or_create(name="探针规则组")
    tag = Tag.objects.create(group=group, name="探针规则", kind=Tag.Kind.RULE)
    return services.rule_create(
        tag=tag, condition={"match": "all", "rules": [EVERYONE["rules"][0]]}, frequency="manual"
    )


def _rule_pk(ctx) -> list[int]:
    return [_rule(ctx).pk]


def _run_pk(ctx) -> list[int]:
    run = RuleRun.objects.get(rule=_rule(ctx))
    rule_run_execute(run_id=run.pk)
    return [run.pk]


def probe_rules_gate(method: str, *, args=None):
    """Rule tags are whole-bank by design: the gate is the scope. Only head-office rule admins enter."""

    def probe(ctx, name):
        url = reverse(name, args=args(ctx) if args else None)
        for persona in (*A_PERSONAS, "manager_b", "reviewer", "nobody"):
            response = getattr(ctx.login(persona), method)(url)
            assert response.status_code == 403, (persona, response.status_code)
        assert getattr(ctx.login("admin"), method)(url).status_code in (200, 302)

    return probe


PROBES = {
    "segments:list": probe_segment_list,
    "segments:create": probe_segment_form,
    "segments:edit": probe_segment_edit,
    "segments:delete": probe_segment_post(),
    "segments:freeze": probe_segment_post(),
    "segments:export": probe_segment_export,
    "segments:preview": probe_preview,
    "segments:operator-options": probe_operator_options,
    "segments:rules": probe_rules_gate("get"),
    "segments:rule-create": probe_rules_gate("get"),
    "segments:rule-edit": probe_rules_gate("get", args=_rule_pk),
    "segments:rule-run": probe_rules_gate("post", args=_rule_pk),
    "segments:rule-run-progress": probe_rules_gate("get", args=_run_pk),
}
