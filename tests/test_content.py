"""The content library: maker-checker, versions, expiry, the sensitive-word check, variables, scope, media."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation

from campaigns.content import selectors, sensitive, services, variables
from campaigns.content.media import MEDIA_REFRESH_AFTER, asset_media_id, media_is_fresh
from campaigns.content.models import ContentAsset, ContentItem, ContentVersion, SensitiveWord
from campaigns.content.preview import preview
from campaigns.content.render import ContentNotUsable, message_for, require_usable
from campaigns.links.models import TrackedLink
from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComPermanentError
from tests.campaigns_support import approved, corp, seed_words
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401
from workbench.audit.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    """Messages are matched in their English source (pages a test requests switch to Chinese themselves)."""
    with translation.override("en"):
        yield


Status = ContentVersion.Status
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 40


@pytest.fixture(autouse=True)
def words(db):
    seed_words()


def draft(bank, text="您好，我是{{operator_name}}。", *, author="manager_a", use=ContentItem.Use.MASS, **kw):
    return services.content_create(actor=bank.user(author), title="到账提醒", use=use, text=text, **kw)


# --- maker-checker ----------------------------------------------------------------------------------------------


def test_draft_submitted_approved_by_compliance_then_usable(bank):
    item = draft(bank)
    version = item.versions.get()
    assert (version.status, version.number, version.author) == (Status.DRAFT, 1, bank.user("manager_a"))
    assert selectors.usable_version(item) is None
    with pytest.raises(ContentNotUsable):
        require_usable(item)

    services.content_submit(version=version, actor=bank.user("manager_a"))
    version.refresh_from_db()
    assert version.status == Status.SUBMITTED and version.submitted_at is not None
    assert list(selectors.review_queue()) == [version]
    assert selectors.usable_version(item) is None  # submitted is not approved

    services.content_approve(version=version, reviewer=bank.user("reviewer"), note="符合要求")
    item.refresh_from_db()
    assert item.current == version and require_usable(item) == version
    version.refresh_from_db()
    assert (version.status, version.reviewed_by, version.review_note) == (
        Status.APPROVED,
        bank.user("reviewer"),
        "符合要求",
    )
    actions = list(AuditEvent.objects.filter(object_type="content.contentversion").values_list("action", "actor"))
    assert actions == [
        (AuditAction.CONTENT_APPROVED, bank.user("reviewer").pk),
        (AuditAction.CONTENT_SUBMITTED, bank.user("manager_a").pk),
    ]


def test_only_compliance_reviews_and_never_the_author(bank):
    version = services.content_submit(version=draft(bank).versions.get(), actor=bank.user("manager_a"))
    for persona in ("manager_a", "admin", "operator_a"):  # the author, another author, an operator
        with pytest.raises(services.ContentError):
            services.content_approve(version=version, reviewer=bank.user(persona))
    # Someone who wrote content and has since become a compliance reviewer still cannot approve their own.
    own = ContentVersion.objects.create(
        item=ContentItem.objects.create(title="x", branch=bank.head, created_by=bank.user("reviewer")),
        number=1,
        text="你好",
        status=Status.SUBMITTED,
        author=bank.user("reviewer"),
        editor_ids=[bank.user("reviewer").pk],
    )
    with pytest.raises(services.ContentError, match="another reviewer"):
        services.content_approve(version=own, reviewer=bank.user("reviewer"))
    # And the database itself refuses a version approved by its author.
    with pytest.raises(IntegrityError), transaction.atomic():
        ContentVersion.objects.filter(pk=own.pk).update(status=Status.APPROVED, reviewed_by=bank.user("reviewer"))
    version.refresh_from_db()
    assert version.status == Status.SUBMITTED


def test_an_editor_of_the_version_cannot_approve_it(bank):
    item = draft(bank, author="admin")
    services.content_edit(item=item, actor=bank.user("admin"), title=item.title, text="改过的文字")
    version = item.versions.get()
    version.editor_ids = [*version.editor_ids, bank.user("reviewer").pk]  # e.g. an editor who later moved role
    version.save(update_fields=["editor_ids"])
    services.content_submit(version=version, actor=bank.user("admin"))
    with pytest.raises(services.ContentError, match="another reviewer"):
        services.content_approve(version=version, reviewer=bank.user("reviewer"))


def test_rejection_needs_a_reason_and_rework_opens_a_new_version(bank):
    version = services.content_submit(version=draft(bank).versions.get(), actor=bank.user("manager_a"))
    with pytest.raises(services.ContentError, match="reason"):
        services.content_reject(version=version, reviewer=bank.user("reviewer"), reason="  ")
    services.content_reject(version=version, reviewer=bank.user("reviewer"), reason="未提示风险")
    version.refresh_from_db()
    assert (version.status, version.review_note) == (Status.REJECTED, "未提示风险")
    assert AuditEvent.objects.filter(action=AuditAction.CONTENT_REJECTED, detail__reason="未提示风险").exists()

    reworked = services.content_edit(
        item=version.item, actor=bank.user("manager_a"), title="到账提醒", text="您好。理财有风险，投资需谨慎。"
    )
    assert (reworked.number, reworked.status, reworked.text) == (2, Status.DRAFT, "您好。理财有风险，投资需谨慎。")
    version.refresh_from_db()
    assert version.status == Status.REJECTED  # the history keeps the rejected version and its reason


def test_editing_approved_content_makes_a_new_version_while_the_old_stays_in_use(bank):
    item = approved(bank, text="v1：{{operator_name}}为您服务。")
    v1 = item.current
    v2 = services.content_edit(item=item, actor=bank.user("manager_a"), title=item.title, text="v2：新的文字")
    assert (v2.number, v2.status) == (2, Status.DRAFT)
    item.refresh_from_db()
    assert item.current == v1 and selectors.usable_version(item) == v1
    with pytest.raises(ContentNotUsable):
        message_for(v2, context=TrackedLink.Context.PLAYBOOK, sender=bank.operators["operator_a"])
    sent = message_for(v1, context=TrackedLink.Context.PLAYBOOK, sender=bank.operators["operator_a"])
    assert sent["text"]["content"] == "v1：赵甲为您服务。"

    # A second save edits the same draft; a submitted draft is locked.
    assert services.content_edit(item=item, actor=bank.user("admin"), title=item.title, text="v2b").pk == v2.pk
    services.content_submit(version=v2, actor=bank.user("manager_a"))
    with pytest.raises(services.ContentError, match="awaiting review"):
        services.content_edit(item=item, actor=bank.user("manager_a"), title=item.title, text="v2c")
    item.refresh_from_db()
    assert item.current == v1

    services.content_approve(version=v2, reviewer=bank.user("reviewer"))
    item.refresh_from_db()
    v1.refresh_from_db()
    assert (item.current.pk, item.current.text, v1.status) == (v2.pk, "v2b", Status.SUPERSEDED)
    with pytest.raises(ContentNotUsable):
        message_for(v1, context=TrackedLink.Context.PLAYBOOK)


def test_expired_content_cannot_be_used(bank):
    until = timezone.now() + timedelta(days=7)
    item = approved(bank, valid_until=until)
    assert selectors.usable_version(item) == item.current
    assert selectors.usable_version(item, now=until + timedelta(seconds=1)) is None
    with pytest.raises(ContentNotUsable):
        require_usable(item, now=until)
    assert item not in selectors.usable_items(bank.user("admin")).filter(current__valid_until__lte=until - timedelta(1))
    version = services.content_edit(
        item=item, actor=bank.user("manager_a"), title="x", text="y", valid_until=timezone.now() - timedelta(hours=1)
    )
    with pytest.raises(services.ContentError, match="expiry"):
        services.content_submit(version=version, actor=bank.user("manager_a"))


# --- sensitive words ------------------------------------------------------------------------------------------------


def test_sensitive_words_are_found_through_the_usual_evasions():
    words = ["保本", "100%收益", "稳赚不赔", "零风险"]
    text = "本产品保 本，稳·赚·不·赔，ＡＢ１００％收益，零​风险。请确保。本金安全"
    hits = sensitive.find(text, words)
    assert [(hit.word, text[hit.start : hit.end]) for hit in hits] == [
        ("保本", "保 本"),
        ("稳赚不赔", "稳·赚·不·赔"),
        ("100%收益", "１００％收益"),
        ("零风险", "零\u200b风险"),
    ]  # and "请确保。本金" is not 保本: sentence punctuation separates
    html = str(sensitive.highlight("<b>保本</b>", sensitive.find("<b>保本</b>", words)))
    assert html == '&lt;b&gt;<mark class="sensitive">保本</mark>&lt;/b&gt;'


def test_sensitive_words_are_saved_highlighted_and_block_the_submission(bank):
    item = draft(bank, text="三年期大额存单，保本，稳赚不赔！")
    version = item.versions.get()
    assert version.sensitive_hits == ["保本", "稳赚不赔", "稳赚"]
    shown = preview(text=version.text, attachments=[], use=item.use)
    assert '<mark class="sensitive">保本</mark>' in str(shown["html"]) and shown["hits"] == version.sensitive_hits
    with pytest.raises(services.SensitiveWordsFound) as refused:
        services.content_submit(version=version, actor=bank.user("manager_a"))
    assert refused.value.words == ["保本", "稳赚不赔", "稳赚"]
    version.refresh_from_db()
    assert version.status == Status.DRAFT

    # In an attachment's title too.
    link = services.attachment_link(title="零风险理财", url="https://bank.example/a")
    services.content_edit(item=item, actor=bank.user("manager_a"), title="x", text="三年期大额存单，欢迎咨询。")
    services.content_add_attachment(item=item, actor=bank.user("manager_a"), attachment=link)
    with pytest.raises(services.SensitiveWordsFound, match="零风险"):
        services.content_submit(version=item.versions.get(), actor=bank.user("manager_a"))


def test_a_word_listed_after_the_submission_blocks_the_approval(bank):
    version = services.content_submit(version=draft(bank, text="年化收益领先").versions.get(), actor=bank.user("admin"))
    services.sensitive_word_add(actor=bank.user("reviewer"), word="收益领先", note="夸大宣传")
    with pytest.raises(services.SensitiveWordsFound):
        services.content_approve(version=version, reviewer=bank.user("reviewer"))
    assert AuditEvent.objects.filter(action=AuditAction.SENSITIVE_WORDS_CHANGED, detail__added="收益领先").exists()


def test_only_compliance_keeps_the_word_list(bank, login):
    with pytest.raises(services.ContentError):
        services.sensitive_word_add(actor=bank.user("admin"), word="躺赚")
    client = login("reviewer")
    assert client.post(reverse("content:sensitive-words"), {"action": "add", "word": "躺赚"}).status_code == 302
    word = SensitiveWord.objects.get(word="躺赚")
    assert client.post(reverse("content:sensitive-words"), {"action": "add", "word": "躺赚"}).status_code == 200
    client.post(reverse("content:sensitive-words"), {"action": "remove", "word_id": word.pk})
    assert not SensitiveWord.objects.filter(word="躺赚").exists()
    assert AuditEvent.objects.filter(action=AuditAction.SENSITIVE_WORDS_CHANGED, detail__removed="躺赚").exists()
    assert login("manager_a").get(reverse("content:sensitive-words")).status_code == 403


# --- variables and limits -------------------------------------------------------------------------------------------


def test_mass_content_may_only_name_the_sender(bank):
    with pytest.raises(services.ContentError, match="customer_name"):
        draft(bank, text="{{customer_name}}您好")
    with pytest.raises(services.ContentError, match="not a variable"):
        draft(bank, text="{{phone}}")
    item = draft(bank, text="{{salutation}}您好，我是{{operator_name}}", use=ContentItem.Use.WELCOME)
    assert variables.used(item.versions.get().text) == ["salutation", "operator_name"]


def test_variables_are_filled_per_sender_and_customer(bank):
    item = approved(
        bank,
        use=ContentItem.Use.WELCOME,
        text="{{salutation}}您好！我是{{branch_name}}的{{operator_title}}{{operator_name}}。{{customer_name}}",
    )
    operator = bank.operators["operator_a"]
    operator.title = "客户经理"
    message = message_for(
        item.current,
        context=TrackedLink.Context.WELCOME,
        sender=operator,
        customer_name="欧阳娜娜",
        customer_gender="F",
    )
    assert message == {"attachments": [], "text": {"content": "欧阳女士您好！我是甲网点的客户经理赵甲。欧阳娜娜"}}
    nickname = message_for(
        item.current, context="welcome", sender=operator, customer_name="快乐小猫🐱", customer_gender="F"
    )
    assert nickname["text"]["content"].startswith("尊敬的客户您好！")


def test_the_text_limit_is_wecoms_4000_bytes(bank):
    with pytest.raises(services.ContentError, match="4000"):
        draft(bank, text="字" * 1334)  # 4002 bytes
    assert draft(bank, text="字" * 1333).versions.get().text  # 3999 bytes


def test_attachments_follow_wecoms_shapes(bank):
    item = draft(bank)
    with pytest.raises(services.ContentError):
        services.attachment_link(title="标" * 43, url="https://bank.example")  # 129 bytes
    with pytest.raises(services.ContentError):
        services.attachment_link(title="标题", url="javascript:alert(1)")
    cover = ContentAsset.objects.create(
        item=item, kind="image", filename="c.png", size=len(PNG), sha256="-", data=PNG, created_by=bank.user("admin")
    )
    with pytest.raises(services.ContentError, match=".html"):
        services.attachment_miniprogram(title="小程序", appid="wx123", page="pages/index", cover=cover)
    for _ in range(9):
        services.content_add_attachment(
            item=item, actor=bank.user("manager_a"), attachment=services.attachment_media(cover)
        )
    with pytest.raises(services.ContentError, match="9"):
        services.content_add_attachment(
            item=item, actor=bank.user("manager_a"), attachment=services.attachment_media(cover)
        )


# --- who sees and edits what ------------------------------------------------------------------------------------------


def test_visibility_follows_the_branch_tree(bank):
    head = approved(bank, title="总行素材", author="admin")
    a = approved(bank, title="甲分行素材", author="manager_a")
    b = approved(bank, title="乙分行素材", author="manager_b")
    a_draft = draft(bank, author="manager_a")
    b_draft = draft(bank, author="manager_b")

    def seen(persona):
        return set(selectors.visible_items(bank.user(persona)))

    assert seen("operator_a") == {head, a}  # approved content of their branch and above
    assert seen("lead_a") == {head, a}  # not an author: approved only
    assert seen("manager_a") == {head, a, a_draft}
    assert seen("reviewer") == seen("admin") == {head, a, b, a_draft, b_draft}
    assert seen("nobody") == set()
    assert selectors.may_edit(bank.user("manager_a"), a) and not selectors.may_edit(bank.user("manager_a"), head)
    assert selectors.may_edit(bank.user("admin"), b) and not selectors.may_edit(bank.user("operator_a"), a)


# --- pages -----------------------------------------------------------------------------------------------------------


def test_the_editor_saves_previews_and_submits(bank, login):
    client = login("manager_a")
    page = client.get(reverse("content:create"))
    assert page.status_code == 200 and "{{salutation}}" in page.content.decode()
    response = client.post(
        reverse("content:create"),
        {"title": "工资到账", "use": "mass", "text": "本理财保本，{{operator_name}}为您服务"},
    )
    item = ContentItem.objects.get(title="工资到账")
    assert response.status_code == 302 and response["Location"] == reverse("content:edit", args=[item.pk])
    editor = client.get(reverse("content:edit", args=[item.pk])).content.decode()
    assert '<mark class="sensitive">保本</mark>' in editor and 'data-testid="submit-for-review" disabled' in editor

    fragment = client.post(reverse("content:preview"), {"text": "稳 赚，{{customer_name}}", "use": "mass"})
    html = fragment.content.decode()
    assert '<mark class="sensitive">稳 赚</mark>' in html and "var-bad" in html
    welcome = client.post(reverse("content:preview"), {"text": "{{customer_name}}", "use": "welcome"})
    assert "王丽" in welcome.content.decode()

    refused = client.post(reverse("content:submit", args=[item.pk]), follow=True)
    assert "保本" in refused.content.decode() and item.versions.get().status == Status.DRAFT
    client.post(reverse("content:edit", args=[item.pk]), {"title": "工资到账", "text": "{{operator_name}}为您服务"})
    client.post(reverse("content:submit", args=[item.pk]))
    assert item.versions.get().status == Status.SUBMITTED

    queue = login("reviewer").get(reverse("content:review-queue"))
    assert "工资到账" in queue.content.decode()
    version = item.versions.get()
    no_reason = login("reviewer").post(reverse("content:review", args=[version.pk]), {"decision": "reject"})
    assert no_reason.status_code == 200 and item.versions.get().status == Status.SUBMITTED
    login("reviewer").post(reverse("content:review", args=[version.pk]), {"decision": "approve"})
    item.refresh_from_db()
    assert item.current == version
    detail = login("operator_a").get(reverse("content:detail", args=[item.pk]))
    assert detail.status_code == 200 and "赵甲为您服务" not in detail.content.decode()  # samples, not real names
    assert login("operator_a").get(reverse("content:edit", args=[item.pk])).status_code == 403


def test_attachments_are_added_in_the_editor(bank, login):
    from django.core.files.uploadedfile import SimpleUploadedFile

    item = draft(bank)
    client = login("manager_a")
    image = SimpleUploadedFile("poster.png", PNG, content_type="image/png")
    client.post(reverse("content:attachment-add", args=[item.pk]), {"type": "image", "file": image})
    client.post(
        reverse("content:attachment-add", args=[item.pk]),
        {"type": "link", "title": "月月享30天", "url": "https://bank.example/wm", "desc": "1元起购"},
    )
    bad = client.post(
        reverse("content:attachment-add", args=[item.pk]), {"type": "link", "title": "t", "url": "ftp://x"}, follow=True
    )
    assert "http" in bad.content.decode()
    version = item.versions.get()
    asset = ContentAsset.objects.get(item=item)
    assert version.attachments == [
        {"type": "image", "asset": asset.pk},
        {"type": "link", "title": "月月享30天", "url": "https://bank.example/wm", "desc": "1元起购"},
    ]
    served = client.get(reverse("content:asset", args=[asset.pk]))
    assert served.status_code == 200 and served["Content-Type"] == "image/png" and served.content == PNG
    assert login("manager_b").get(reverse("content:asset", args=[asset.pk])).status_code == 404
    client.post(reverse("content:attachment-remove", args=[item.pk, 0]))
    assert [a["type"] for a in item.versions.get().attachments] == ["link"]


def test_list_search_and_filters(bank, login):
    approved(bank, title="代发工资理财", text="工资到账啦")
    draft(bank, text="重阳节快乐")
    client = login("manager_a")
    rows = client.get(reverse("content:list"), {"q": "重阳"}).context["rows"]
    assert [item.title for item, _open in rows] == ["到账提醒"]
    rows = client.get(reverse("content:list"), {"status": "usable"}).context["rows"]
    assert [item.title for item, _open in rows] == ["代发工资理财"]
    fragment = client.get(
        reverse("content:list"), {"q": "工资"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="content-results"
    )
    assert "代发工资理财" in fragment.content.decode() and "<html" not in fragment.content.decode()


# --- media against the WeCom sandbox ---------------------------------------------------------------------------------


def test_media_is_uploaded_when_used_and_refreshed_before_it_gets_old(bank, sandbox):  # noqa: F811
    corp(sandbox, ["operator_a"])
    item = draft(bank)
    asset = ContentAsset.objects.create(
        item=item, kind="image", filename="poster.png", content_type="image/png", size=len(PNG), sha256="-",
        data=PNG, created_by=bank.user("admin"),
    )  # fmt: skip
    t0 = timezone.now()
    first = asset_media_id(asset, now=t0)
    assert asset_media_id(asset, now=t0 + timedelta(days=2)) == first  # still fresh: no second upload
    assert sandbox.state()["media"] == 1
    assert media_is_fresh(asset, now=t0 + MEDIA_REFRESH_AFTER - timedelta(seconds=1))
    assert not media_is_fresh(asset, now=t0 + MEDIA_REFRESH_AFTER)

    # Three days on (WeCom's clock and ours): WeCom refuses the old media_id; ours is uploaded again before use.
    sandbox.settings(clock_offset=3 * 86400 + 60)
    later = t0 + timedelta(days=3, minutes=1)
    added = sandbox.event(change_type="add_external_contact", userid="operator_a")
    with pytest.raises(WeComPermanentError) as stale:
        get_client().send_welcome_msg(added["welcome_code"], "", [{"msgtype": "image", "image": {"media_id": first}}])
    assert stale.value.errcode == 40007
    refreshed = asset_media_id(asset, now=later)
    assert refreshed != first and sandbox.state()["media"] == 2
    asset.refresh_from_db()
    assert (asset.media_id, asset.media_uploaded_at) == (refreshed, later)
    get_client().send_welcome_msg(added["welcome_code"], "", [{"msgtype": "image", "image": {"media_id": refreshed}}])
    assert sandbox.received()["welcome_messages"][0]["attachments"][0]["image"]["media_id"] == refreshed


def test_a_message_carries_wecom_shapes_uploaded_media_and_tracked_links(bank, sandbox, settings):  # noqa: F811
    settings.TRACKED_LINK_BASE_URL = "https://wb.bank.example"
    corp(sandbox, ["operator_a"])
    item = draft(bank, text="详情 https://bank.example/wm030 ，欢迎咨询")
    asset = ContentAsset.objects.create(
        item=item, kind="image", filename="cover.png", content_type="image/png", size=len(PNG), sha256="-",
        data=PNG, created_by=bank.user("admin"),
    )  # fmt: skip
    for attachment in (
        services.attachment_media(asset),
        services.attachment_link(title="月月享{{operator_name}}", url="https://bank.example/wm030", cover=asset),
    ):
        services.content_add_attachment(item=item, actor=bank.user("manager_a"), attachment=attachment)
    version = services.content_submit(version=item.versions.get(), actor=bank.user("manager_a"))
    services.content_approve(version=version, reviewer=bank.user("reviewer"))
    message = message_for(
        version, context=TrackedLink.Context.PLAYBOOK, context_id=7, sender=bank.operators["operator_a"]
    )
    link = TrackedLink.objects.get()
    assert (link.url, link.version, link.sender, link.context, link.context_id) == (
        "https://bank.example/wm030", version, bank.operators["operator_a"], "playbook", 7,
    )  # fmt: skip
    tracked = f"https://wb.bank.example/l/{link.token}"
    assert message["text"]["content"] == f"详情 {tracked} ，欢迎咨询"
    image, card = message["attachments"]
    assert image["msgtype"] == "image" and image["image"]["media_id"].startswith("3")
    assert card["link"]["title"] == "月月享赵甲" and card["link"]["url"] == tracked
    assert card["link"]["picurl"].startswith(sandbox.url)
    # The same send rendered again reuses its link; another sender gets another.
    message_for(version, context="playbook", context_id=7, sender=bank.operators["operator_a"])
    message_for(version, context="playbook", context_id=7, sender=bank.operators["operator_a2"])
    assert TrackedLink.objects.count() == 2
