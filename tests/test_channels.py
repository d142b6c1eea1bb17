"""Channel codes against the WeCom sandbox: kept in step with 「联系我」, adds credited and tagged, the welcome
message inside its 20-second window (or logged when late), daily caps, and the channel report."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from campaigns.channels import selectors, services
from campaigns.channels.models import ChannelAdd, ChannelCode, WelcomeMessage
from campaigns.channels.welcome import send_welcome
from campaigns.content.models import ContentItem
from campaigns.links.models import LinkClick, TrackedLink
from integrations.wecom.callbacks import welcome
from integrations.wecom.callbacks.services import process_callback, send_callback_welcome
from integrations.wecom.callbacks.tasks import send_welcome as send_welcome_task
from integrations.wecom.errors import WeComPermanentError
from integrations.wecom.models import CallbackEvent
from tagging.models import AddWay, CustomerTag, FollowRelationship, Tag, TagChange, TagGroup, TagSource
from tests.campaigns_support import approved, corp, deliver, seed_words
from tests.factories import CustomerFactory, FollowFactory
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401
from workbench.audit.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    """Messages are matched in their English source (pages a test requests switch to Chinese themselves)."""
    with translation.override("en"):
        yield


WELCOME_TEXT = (
    "{{salutation}}您好！我是{{branch_name}}的客户经理{{operator_name}}。开户指南：https://bank.example/guide"
)
MEMBERS = ["operator_a", "operator_a2", "operator_b", "manager_a", "admin"]


@pytest.fixture
def wecom(sandbox, bank):  # noqa: F811
    seed_words()
    corp(sandbox, MEMBERS)
    return sandbox


@pytest.fixture
def greeting(bank):
    return approved(bank, title="新客户欢迎语", text=WELCOME_TEXT, use=ContentItem.Use.WELCOME, author="admin")


@pytest.fixture
def new_customer_tag(db):
    group = TagGroup.objects.create(name="获客渠道")
    return Tag.objects.create(group=group, name="网点扫码", kind=Tag.Kind.EVENT)


def make_code(
    bank, *, name="甲网点柜台", operators=("operator_a",), cap=None, backup=None, tags=(), welcome_item=None, push=True
):
    code = services.channel_code_create(
        actor=bank.user("admin"),
        name=name,
        members=[(bank.operators[persona], cap) for persona in operators],
        backup=bank.operators[backup] if backup else None,
        tags=tags,
        welcome_item=welcome_item,
    )
    return services.channel_code_push(code_id=code.pk) if push else code


def config_of(sandbox, code) -> dict:  # noqa: F811
    return sandbox.api("externalcontact/get_contact_way", {"config_id": code.config_id})["contact_way"]


# --- the code and WeCom ---------------------------------------------------------------------------------------------


def test_a_code_is_created_updated_and_deleted_in_wecom(bank, wecom):
    code = make_code(bank, operators=("operator_a", "operator_a2"))
    assert (code.sync, code.sync_error) == (ChannelCode.Sync.SYNCED, "")
    assert code.qr_code.startswith(f"{wecom.url}/sandbox/contact_way/") and code.state.startswith("ch_")
    config = config_of(wecom, code)
    assert (config["state"], config["user"], config["remark"], config["type"], config["scene"]) == (
        code.state, ["operator_a", "operator_a2"], "甲网点柜台", 2, 2,
    )  # fmt: skip
    assert AuditEvent.objects.filter(action=AuditAction.CHANNEL_CODE_CHANGED, object_id=str(code.pk)).count() == 1

    services.channel_code_update(
        code=code, actor=bank.user("admin"), name="甲网点大堂", members=[(bank.operators["operator_a2"], None)]
    )
    code = services.channel_code_push(code_id=code.pk)
    assert code.sync == ChannelCode.Sync.SYNCED
    assert (config_of(wecom, code)["user"], config_of(wecom, code)["remark"]) == (["operator_a2"], "甲网点大堂")

    services.channel_code_delete(code=code, actor=bank.user("admin"))
    code = services.channel_code_push(code_id=code.pk)
    assert code.deleted_at and code.sync == ChannelCode.Sync.SYNCED
    assert wecom.state()["contact_ways"] == 0
    assert AuditEvent.objects.filter(action=AuditAction.CHANNEL_CODE_CHANGED, object_id=str(code.pk)).count() == 3


def test_wecom_refusals_and_outages_are_kept_on_the_code(bank, wecom):
    wecom.faults(error_rate=1.0, path_prefix="externalcontact/add_contact_way")
    code = make_code(bank)
    assert (code.sync, code.config_id) == (ChannelCode.Sync.PENDING, "")
    assert "-1" in code.sync_error
    wecom.clear_faults()
    assert services.push_due() == 1  # the periodic push takes it up
    code.refresh_from_db()
    assert code.sync == ChannelCode.Sync.SYNCED and code.config_id

    corp(wecom, ["operator_a2"])  # operator_a has left WeCom's directory: WeCom refuses the member
    refused = make_code(bank)
    assert refused.sync == ChannelCode.Sync.FAILED and "40003" in refused.sync_error
    assert services.codes_to_push() == []  # a refusal waits for a person, not for the periodic push


def test_codes_are_validated_before_wecom_is_asked(bank, wecom, greeting):
    ops = bank.operators
    with pytest.raises(services.ChannelError):
        services.channel_code_create(actor=bank.user("admin"), name="x", members=[])
    with pytest.raises(services.ChannelError):  # a resigned operator
        services.channel_code_create(actor=bank.user("admin"), name="x", members=[(ops["resigned"], None)])
    with pytest.raises(services.ChannelError):
        services.channel_code_create(
            actor=bank.user("admin"), name="x", members=[(ops["operator_a"], None)], backup=ops["operator_a"]
        )
    draft = ContentItem.objects.get(pk=greeting.pk)
    ContentItem.objects.filter(pk=draft.pk).update(current=None)
    draft.refresh_from_db()
    with pytest.raises(services.ChannelError, match="approved"):
        services.channel_code_create(
            actor=bank.user("admin"), name="x", members=[(ops["operator_a"], None)], welcome_item=draft
        )
    assert wecom.state()["contact_ways"] == 0


# --- a customer adds an operator through the code -------------------------------------------------------------------


def test_an_add_is_credited_tagged_and_welcomed_within_the_window(bank, wecom, greeting, new_customer_tag, settings):
    settings.TRACKED_LINK_BASE_URL = "https://wb.bank.example"
    code = make_code(bank, tags=[new_customer_tag], welcome_item=greeting)
    event, answer = deliver(
        wecom, change_type="add_external_contact", userid="operator_a", state=code.state, name="王丽", gender=2
    )
    assert welcome.welcome_deadline(event) == event.received_at + timedelta(seconds=18)

    # The welcome task runs first (it is queued ahead of the processing): the contact is not stored yet.
    assert send_callback_welcome(event_id=event.pk) is True
    (sent,) = wecom.received()["welcome_messages"]
    link = TrackedLink.objects.get()
    assert sent["code"] == answer["welcome_code"] and sent["external_userid"] == answer["external_userid"]
    assert sent["text"]["content"] == (
        f"王女士您好！我是甲网点的客户经理赵甲。开户指南：https://wb.bank.example/l/{link.token}"
    )
    assert (link.context, link.context_id, link.sender, link.external_userid, link.version) == (
        "welcome", code.pk, bank.operators["operator_a"], answer["external_userid"], greeting.current,
    )  # fmt: skip
    row = WelcomeMessage.objects.get()
    assert (row.status, row.code, row.version, row.error) == ("sent", code, greeting.current, "")

    process_callback(event_id=event.pk)
    event.refresh_from_db()
    assert event.status == "processed" and event.error == ""
    add = ChannelAdd.objects.get()
    customer = add.customer
    assert (add.code, add.operator, add.follow.state, customer.external_userid, add.event) == (
        code, bank.operators["operator_a"], code.state, answer["external_userid"], event,
    )  # fmt: skip
    assert add.tags_added == [new_customer_tag.pk]
    tag = CustomerTag.objects.get(customer=customer)
    assert (tag.tag, tag.source) == (new_customer_tag, TagSource.EVENT)
    change = TagChange.objects.get(customer=customer)
    assert (change.source, change.source_id) == (TagSource.EVENT, code.pk)

    process_callback(event_id=event.pk)  # processed already: nothing happens twice
    CallbackEvent.objects.filter(pk=event.pk).update(status="received")
    process_callback(event_id=event.pk)  # even when run again
    assert ChannelAdd.objects.count() == 1 and TagChange.objects.count() == 1

    # The customer clicks the welcome message's link: credited to them, the operator and the content.
    from django.test import Client

    Client().get(f"/l/{link.token}")
    click = LinkClick.objects.get()
    assert (click.customer, click.identified_by) == (customer, "link")


def test_a_late_welcome_code_is_logged_and_not_retried(bank, wecom, greeting):
    code = make_code(bank, welcome_item=greeting)
    # WeCom's clock has passed the code's 20 seconds by the time we call: 41050, on the event and the row.
    event, _answer = deliver(wecom, change_type="add_external_contact", userid="operator_a", state=code.state)
    wecom.settings(clock_offset=21)
    send_welcome_task(event.pk)  # the task itself: it neither raises nor retries
    row = WelcomeMessage.objects.get()
    assert row.status == WelcomeMessage.Status.LATE and "41050" in row.error
    event.refresh_from_db()
    assert "welcome message not sent" in event.error and "41050" in event.error
    assert wecom.received()["welcome_messages"] == []

    # Past our own deadline (counted from the callback's arrival) the task drops it without calling WeCom.
    wecom.settings(clock_offset=0)
    late, _answer = deliver(wecom, change_type="add_external_contact", userid="operator_a", state=code.state)
    CallbackEvent.objects.filter(pk=late.pk).update(received_at=timezone.now() - timedelta(seconds=19))
    calls = wecom.state()["calls"].get("externalcontact/send_welcome_msg", 0)
    assert send_callback_welcome(event_id=late.pk) is False
    assert wecom.state()["calls"].get("externalcontact/send_welcome_msg", 0) == calls
    late.refresh_from_db()
    assert "welcome code had expired" in late.error

    # And when the deadline passes while the message is being prepared: refused locally as WeCom would.
    third, _answer = deliver(wecom, change_type="add_external_contact", userid="operator_a", state=code.state)
    with pytest.raises(WeComPermanentError) as refused:
        send_welcome(third, deadline=timezone.now() - timedelta(seconds=1), fallback_text="")
    assert refused.value.errcode == 41050
    assert WelcomeMessage.objects.get(event=third).status == WelcomeMessage.Status.LATE


def test_the_welcome_task_is_queued_for_a_channel_welcome_without_a_default_text(bank, wecom, greeting, settings):
    settings.WECOM_WELCOME_TEXT = ""
    code = make_code(bank, welcome_item=greeting)
    plain = make_code(bank)
    through_code, _ = deliver(wecom, change_type="add_external_contact", userid="operator_a", state=code.state)
    through_plain, _ = deliver(wecom, change_type="add_external_contact", userid="operator_a", state=plain.state)
    searched, _ = deliver(wecom, change_type="add_external_contact", userid="operator_a")
    assert welcome.welcome_deadline(through_code) is not None
    assert welcome.welcome_deadline(through_plain) is None and welcome.welcome_deadline(searched) is None


def test_an_unusable_channel_welcome_falls_back_to_the_default_text(bank, wecom, greeting, settings):
    settings.WECOM_WELCOME_TEXT = "您好，欢迎添加！"
    code = make_code(bank, welcome_item=greeting)
    current = greeting.current
    current.valid_until = timezone.now() - timedelta(minutes=1)  # the offer has ended
    current.save(update_fields=["valid_until"])
    event, _ = deliver(wecom, change_type="add_external_contact", userid="operator_a", state=code.state)
    assert send_callback_welcome(event_id=event.pk) is True
    assert wecom.received()["welcome_messages"][0]["text"]["content"] == "您好，欢迎添加！"
    assert WelcomeMessage.objects.get().version is None


def test_a_known_bank_customer_is_greeted_by_surname(bank, wecom, greeting):
    CustomerFactory(owner=bank.operators["operator_a"], name="钱多多", gender="M", external_userid="wmKNOWN01")
    code = make_code(bank, welcome_item=greeting)
    event, _ = deliver(
        wecom, change_type="add_external_contact", userid="operator_a", state=code.state, external_userid="wmKNOWN01"
    )
    send_callback_welcome(event_id=event.pk)
    assert wecom.received()["welcome_messages"][0]["text"]["content"].startswith("钱先生您好！")


def test_daily_caps_hand_new_customers_to_the_backup(bank, wecom):
    code = make_code(bank, operators=("operator_a", "operator_a2"), cap=1, backup="manager_a")
    assert config_of(wecom, code)["user"] == ["operator_a", "operator_a2"]
    for userid in ("operator_a", "operator_a2"):
        event, _ = deliver(wecom, change_type="add_external_contact", userid=userid, state=code.state)
        process_callback(event_id=event.pk)
    assert services.adds_today(code) == {bank.operators["operator_a"].pk: 1, bank.operators["operator_a2"].pk: 1}
    assert services.desired_users(code) == ["manager_a"]
    assert services.codes_to_push() == [code.pk]
    services.push_due()
    code.refresh_from_db()
    assert config_of(wecom, code)["user"] == ["manager_a"] and code.wecom_users == ["manager_a"]
    # The next day every operator is back.
    ChannelAdd.objects.update(added_at=timezone.now() - timedelta(days=1))
    services.push_due()
    assert config_of(wecom, code)["user"] == ["operator_a", "operator_a2"]


# --- the report -------------------------------------------------------------------------------------------------------


def test_the_report_counts_adds_early_losses_and_active_per_channel_and_operator(bank, wecom):
    code = make_code(bank, name="柜台", operators=("operator_a", "operator_b"))
    other = make_code(bank, name="大堂", operators=("operator_a",))
    now = timezone.now()
    ops = bank.operators

    def follow(operator, state, *, days_kept=None, by="customer", add_way=AddWay.QR_CODE):
        added = now - timedelta(days=10)
        deleted = {} if days_kept is None else {"deleted_at": added + timedelta(days=days_kept), "deleted_by": by}
        FollowFactory(
            customer=CustomerFactory(owner=ops[operator]),
            operator=ops[operator],
            added_at=added,
            state=state,
            add_way=add_way,
            **deleted,
        )

    follow("operator_a", code.state)
    follow("operator_a", code.state, days_kept=2)  # lost within 7 days
    follow("operator_a", code.state, days_kept=9)  # lost later
    follow("operator_b", code.state, days_kept=1, by="operator")
    follow("operator_b", code.state)
    follow("operator_a", other.state)
    follow("operator_a", code.state, add_way=AddWay.ADMIN_ASSIGNED)  # a transfer's follow: not an add
    follow("operator_a", "someone_elses_state")

    rows = {
        row.label: (row.adds, row.lost_early, row.active) for row in selectors.report_by_channel(bank.user("admin"))
    }
    assert rows == {"柜台": (5, 2, 2), "大堂": (1, 0, 1)}
    by_operator = {
        row.key: (row.adds, row.lost_early, row.active) for row in selectors.report_by_operator(bank.user("admin"))
    }
    assert by_operator == {ops["operator_a"].pk: (4, 1, 2), ops["operator_b"].pk: (2, 1, 1)}
    # Within data scope: 甲's manager sees only 甲's operators.
    scoped = {row.key for row in selectors.report_by_operator(bank.user("manager_a"))}
    assert scoped == {ops["operator_a"].pk}
    assert sum(row.adds for row in selectors.report_by_channel(bank.user("manager_a"))) == 4
    # A period before the adds shows nothing.
    assert selectors.report_by_channel(bank.user("admin"), until=now - timedelta(days=11)) == []


# --- pages -----------------------------------------------------------------------------------------------------------


def test_admins_create_edit_and_delete_codes_in_the_pages(bank, wecom, greeting, login, new_customer_tag):
    client = login("admin")
    assert client.get(reverse("channels:create")).status_code == 200
    response = client.post(
        reverse("channels:create"),
        {
            "name": "甲网点柜台",
            "operators": [bank.operators["operator_a"].pk, bank.operators["operator_a2"].pk],
            "daily_cap": "30",
            "auto_tags": [new_customer_tag.pk],
            "welcome_item": greeting.pk,
            "skip_verify": "on",
        },
    )
    code = ChannelCode.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("channels:edit", args=[code.pk])
    assert code.sync == "synced" and list(code.members.values_list("daily_cap", flat=True)) == [30, 30]
    page = client.get(reverse("channels:edit", args=[code.pk])).content.decode()
    assert code.qr_code in page and reverse("channels:qr", args=[code.pk]) in page
    assert client.get(reverse("channels:list")).status_code == 200
    # WeCom's qr_code is an image address: the workbench serves the image itself (intranet browsers may not
    # reach WeCom's host); an address that is not an image is refused and the page links to it instead.
    image = client.get(reverse("channels:qr", args=[code.pk]))
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert image.content.startswith(bytes.fromhex("89504e470d0a1a0a"))
    ChannelCode.objects.filter(pk=code.pk).update(qr_code=code.qr_code.removesuffix("/qr.png"))  # a page
    assert client.get(reverse("channels:qr", args=[code.pk])).status_code == 404

    client.post(reverse("channels:delete", args=[code.pk]))
    code.refresh_from_db()
    assert code.deleted_at is not None and wecom.state()["contact_ways"] == 0
    assert client.get(reverse("channels:edit", args=[code.pk])).status_code == 404
    assert login("manager_a").get(reverse("channels:list")).status_code == 403


def test_the_qr_image_is_served_and_downloadable(bank, wecom, login):
    from integrations.wecom.client import get_client

    png = bytes.fromhex("89504e470d0a1a0a") + b"\x00" * 64
    code = make_code(bank)
    ChannelCode.objects.filter(pk=code.pk).update(qr_code=get_client().upload_image("qr.png", png, "image/png"))
    client = login("admin")
    image = client.get(reverse("channels:qr", args=[code.pk]))
    assert image.status_code == 200 and image["Content-Type"] == "image/png" and image.content == png
    download = client.get(reverse("channels:qr", args=[code.pk]), {"download": "1"})
    assert download["Content-Disposition"] == f'attachment; filename="channel-{code.state}.png"'


def test_the_report_page_is_scoped(bank, wecom, login):
    code = make_code(bank, operators=("operator_a", "operator_b"))
    for persona in ("operator_a", "operator_b"):
        FollowFactory(customer=CustomerFactory(owner=bank.operators[persona]), operator=bank.operators[persona],
                      state=code.state)  # fmt: skip
    page = login("manager_a").get(reverse("channels:report")).content.decode()
    assert "赵甲" in page and "孙乙" not in page
    assert "孙乙" in login("admin").get(reverse("channels:report")).content.decode()
    assert FollowRelationship.objects.filter(state=code.state).count() == 2


def test_the_demo_gives_each_outlet_with_counter_customers_a_code_that_credits_them(bank, greeting):
    from campaigns.content.management.commands.seed_content_demo import Command as SeedContent

    outlet = bank.outlet_a
    for persona in ("operator_a", "operator_a2"):
        FollowFactory(customer=CustomerFactory(owner=bank.operators[persona]), operator=bank.operators[persona],
                      state=f"qr_branch_{outlet.pk}", added_at=timezone.now() - timedelta(days=3))  # fmt: skip
    FollowFactory(customer=CustomerFactory(owner=bank.operators["operator_b"]), operator=bank.operators["operator_b"],
                  state="", added_at=timezone.now() - timedelta(days=3))  # fmt: skip

    admin = bank.users["admin"]
    assert SeedContent().channel_codes(admin, welcome=greeting) == 1
    assert SeedContent().channel_codes(admin, welcome=greeting) == 0  # safe to run twice
    code = ChannelCode.objects.get()
    assert (code.state, code.name) == (f"qr_branch_{outlet.pk}", f"{outlet.name}柜台二维码")
    assert set(code.members.values_list("operator__branch", flat=True)) == {outlet.pk}
    [row] = selectors.report_by_channel(admin)
    assert (row.key, row.label, row.adds) == (code.pk, code.name, 2)
