"""Data-scope probes of the content library, channel codes and tracked links, for tests/test_url_scope.py.

Content belongs to a branch: branch A's people never see branch B's drafts nor its approved content, which is
B's subtree's to use. Review, the word list and channel codes are whole-bank by design: their gate is the scope.
Each probe has its positive control.
"""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.channels import services as channel_services
from campaigns.content import services
from tagging.models import FollowRelationship
from tests.campaigns_support import approved

B_CONTENT = ("乙分行专属理财", "乙分行草稿")
A_PERSONAS = ("operator_a", "lead_a", "manager_a")


def _text(response) -> str:
    return response.content.decode(errors="replace")


def _b_content(ctx):
    """Branch B's approved item (with an image) and its draft, written by manager_b."""
    item = approved(ctx.bank, title=B_CONTENT[0], text="乙分行的理财介绍", author="manager_b")
    draft = services.content_create(actor=ctx.bank.user("manager_b"), title=B_CONTENT[1], use="mass", text="草稿")
    image = SimpleUploadedFile("b.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 32, content_type="image/png")
    asset = services.asset_store(item=draft, actor=ctx.bank.user("manager_b"), kind="image", upload=image)
    services.content_add_attachment(
        item=draft, actor=ctx.bank.user("manager_b"), attachment={"type": "image", "asset": asset.pk}
    )
    return item, draft, asset


def probe_content_list(ctx, name):
    _b_content(ctx)
    for persona in A_PERSONAS:
        for params in ({}, {"q": "乙分行"}, {"status": "draft"}, {"status": "in_review"}):
            response = ctx.login(persona).get(reverse(name), params)
            assert response.status_code == 200
            for marker in B_CONTENT:
                assert marker not in _text(response), (persona, params, marker)
    control = _text(ctx.login("manager_b").get(reverse(name)))
    assert all(marker in control for marker in B_CONTENT)


def probe_content_object(method, *, args=lambda item, draft, asset: [draft.pk], ok=(200, 302)):
    """404 for branch A's people on branch B's content (a draft, and for pages also the approved item, which is
    B's subtree's to use); its author gets through."""

    def probe(ctx, name):
        item, draft, asset = _b_content(ctx)
        urls = [reverse(name, args=args(item, draft, asset)), reverse(name, args=args(draft, item, asset))]
        for url in dict.fromkeys(urls):
            for persona in A_PERSONAS:
                response = getattr(ctx.login(persona), method)(url)
                # Authors (manager_a) get 404; the others are stopped at the door of author-only pages (403).
                expected = (404,) if persona == "manager_a" else (403, 404)
                assert response.status_code in expected, (url, persona, response.status_code)
                for marker in B_CONTENT:
                    assert marker not in _text(response)
        assert getattr(ctx.login("manager_b"), method)(urls[0]).status_code in ok

    return probe


def probe_author_gate(method):
    def probe(ctx, name):
        for persona in ("operator_a", "lead_a", "reviewer"):
            assert getattr(ctx.login(persona), method)(reverse(name)).status_code == 403, persona
        assert getattr(ctx.login("manager_a"), method)(reverse(name)).status_code == 200

    return probe


def probe_preview(ctx, name):
    item, draft, _asset = _b_content(ctx)
    for persona in ("operator_a", "lead_a", "reviewer"):
        assert ctx.login(persona).post(reverse(name), {"text": "x"}).status_code == 403
    leak = ctx.login("manager_a").post(reverse(name), {"text": "x", "item": draft.pk})
    assert leak.status_code == 404  # another branch's item: its attachments are not shown
    assert ctx.login("manager_b").post(reverse(name), {"text": "x", "item": draft.pk}).status_code == 200


def probe_reviewer_gate(args=None):
    """Compliance reviews the whole bank by design: the gate is the scope."""

    def probe(ctx, name):
        item, draft, _asset = _b_content(ctx)
        services.content_submit(version=draft.versions.get(), actor=ctx.bank.user("manager_b"))
        url = reverse(name, args=args(draft) if args else None)
        for persona in ("operator_a", "lead_a", "manager_a", "manager_b", "admin"):
            assert ctx.login(persona).get(url).status_code == 403, persona
        control = ctx.login("reviewer").get(url)
        assert control.status_code == 200
        if name != "content:sensitive-words":
            assert B_CONTENT[1] in _text(control)

    return probe


def _b_code(ctx):
    code = channel_services.channel_code_create(
        actor=ctx.bank.user("admin"), name="乙网点柜台码", members=[(ctx.bank.operators["operator_b"], None)]
    )
    FollowRelationship.objects.filter(customer=ctx.bank.customers["b_own"]).update(state=code.state)
    FollowRelationship.objects.create(
        customer=ctx.bank.customers["b_own"], operator=ctx.bank.operators["operator_b"], added_at=code.created_at,
        state=code.state,
    )  # fmt: skip
    return code


def probe_channels_gate(method, *, with_code=False, ok=(200, 302)):
    """Channel codes are whole-bank by design (head-office admins): the gate is the scope."""

    def probe(ctx, name):
        code = _b_code(ctx)
        url = reverse(name, args=[code.pk] if with_code else None)
        for persona in ("operator_a", "lead_a", "manager_a", "manager_b", "reviewer"):
            assert getattr(ctx.login(persona), method)(url).status_code == 403, persona
        assert getattr(ctx.login("admin"), method)(url).status_code in ok

    return probe


def probe_channel_report(ctx, name):
    _b_code(ctx)
    for persona in A_PERSONAS:
        response = ctx.login(persona).get(reverse(name))
        assert response.status_code == 200
        assert "孙乙" not in _text(response) and "乙网点柜台码" not in _text(response)
    control = _text(ctx.login("manager_b").get(reverse(name)))
    assert "孙乙" in control and "乙网点柜台码" in control


def _asset_args(item, draft, asset):
    return [asset.pk]  # the asset of B's draft, whichever item is named


PROBES = {
    "content:list": probe_content_list,
    "content:create": probe_author_gate("get"),
    "content:preview": probe_preview,
    "content:detail": probe_content_object("get"),
    "content:edit": probe_content_object("get"),
    "content:submit": probe_content_object("post"),
    "content:attachment-add": probe_content_object("post"),
    "content:attachment-remove": probe_content_object("post", args=lambda item, draft, asset: [draft.pk, 0]),
    "content:asset": probe_content_object("get", args=_asset_args),
    "content:review-queue": probe_reviewer_gate(),
    "content:review": probe_reviewer_gate(args=lambda draft: [draft.versions.get().pk]),
    "content:sensitive-words": probe_reviewer_gate(),
    "channels:list": probe_channels_gate("get"),
    "channels:create": probe_channels_gate("get"),
    "channels:edit": probe_channels_gate("get", with_code=True),
    "channels:delete": probe_channels_gate("post", with_code=True),
    "channels:qr": probe_channels_gate("get", with_code=True, ok=(404,)),  # no QR yet: WeCom was not asked
    "channels:report": probe_channel_report,
}

# /l/<token>: customers have no login; the random token is the key, and the page shows no data (a redirect).
PUBLIC = {"links:redirect"}
