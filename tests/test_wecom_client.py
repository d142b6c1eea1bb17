"""The WeCom client over real HTTP against the sandbox: base URL, shared token, retries, limits, every method."""

import multiprocessing
import time

import pytest

from integrations.wecom import client as client_module
from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComPermanentError, WeComRateLimited, WeComTransientError
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401 - fixtures

CORP = {
    "departments": [
        {"id": 1, "name": "示范银行总行", "parentid": 0},
        {"id": 2, "name": "甲分行", "parentid": 1},
    ],
    "members": [
        {"userid": "zhangsan", "name": "张三", "department": [2]},
        {"userid": "lisi", "name": "李四", "department": [2]},
    ],
    "contacts": [
        {"external_userid": f"wmC{i:04d}", "name": f"客户{i}", "type": 1, "unionid": f"oU{i:04d}"} for i in range(150)
    ],
    "follows": [{"userid": "zhangsan", "external_userid": f"wmC{i:04d}", "remark": f"备注{i}"} for i in range(150)]
    + [{"userid": "lisi", "external_userid": "wmC0001"}],
    "tags": [{"group_name": "客群", "tag": [{"name": "代发"}, {"name": "退休"}]}],
}


@pytest.fixture
def corp(sandbox):  # noqa: F811
    sandbox.seed(CORP)
    return sandbox


def _gettoken_calls(sandbox) -> int:  # noqa: F811
    return sandbox.state()["gettoken_calls"]


def test_every_call_uses_the_configured_base_url_gettoken_included(corp):
    departments = get_client().department_list()
    assert {d["id"] for d in departments} == {1, 2}
    assert {u["userid"] for u in get_client().user_list(1)} == {"zhangsan", "lisi"}
    assert _gettoken_calls(corp) == 1  # one token for both calls


def _call_from_another_process(barrier, queue):
    try:
        barrier.wait(timeout=20)
        queue.put(len(get_client().department_list()))
    except Exception as exc:  # reported to the parent, which fails the test
        queue.put(repr(exc))


def test_processes_share_one_token(corp):
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(3), context.Queue()
    children = [context.Process(target=_call_from_another_process, args=(barrier, queue)) for _ in range(3)]
    for child in children:
        child.start()
    results = [queue.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=30)
    assert results == [2, 2, 2]
    assert _gettoken_calls(corp) == 1


def test_an_invalidated_token_is_refreshed_once_and_the_call_retried(corp):
    get_client().department_list()
    corp.faults(invalidate_tokens=True)
    assert len(get_client().department_list()) == 2
    assert _gettoken_calls(corp) == 2


@pytest.mark.parametrize(
    "fault", [{"freq_limit_next": 2}, {"http_error_next": 2}, {"error_rate": 1.0, "path_prefix": "department/"}]
)
def test_transient_failures_are_retried_a_bounded_number_of_times(corp, settings, fault):
    settings.WECOM_MAX_RETRIES = 3
    corp.faults(**fault)
    if fault.get("error_rate") == 1.0:  # -1 on every call: retried, then given up as transient
        with pytest.raises(WeComTransientError) as raised:
            get_client().department_list()
        assert raised.value.errcode == -1
        assert corp.state()["calls"]["department/list"] == 4  # the first try and three retries
    else:
        assert len(get_client().department_list()) == 2


def test_a_hang_times_out_and_is_retried(corp, settings):
    settings.WECOM_TIMEOUT_SECONDS = 0.5
    corp.faults(hang_next=1, path_prefix="department/")
    assert len(get_client().department_list()) == 2


def test_a_message_whose_answer_is_lost_is_not_sent_again(corp, settings):
    """A read timeout on message/send may hide a delivery (the sandbox serves the call after the hang, as WeCom
    might): the client raises it at once, marked maybe_done, instead of sending the message a second time."""
    settings.WECOM_TIMEOUT_SECONDS = 0.5
    corp.faults(hang_next=1, hang_seconds=1.0, path_prefix="message/")
    with pytest.raises(WeComTransientError) as raised:
        get_client().send_app_message(["zhangsan"], "text", {"content": "周报"})
    assert raised.value.maybe_done
    time.sleep(1.5)  # the hung call is served after all
    assert corp.state()["calls"]["message/send"] == 1
    assert [m["content"] for m in corp.received()["app_messages"]] == [{"content": "周报"}]


def test_permanent_errors_are_not_retried(corp):
    with pytest.raises(WeComPermanentError) as raised:
        get_client().remark("zhangsan", "wmNOBODY", remark="x")
    assert raised.value.errcode in (40096, 84061)
    assert corp.state()["calls"]["externalcontact/remark"] == 1


def test_the_local_rate_limit_queues_work_instead_of_calling(corp, settings, monkeypatch):
    settings.WECOM_API_CALLS_PER_MINUTE = 2
    monkeypatch.setattr(client_module, "RATE_WAIT_MAX_SECONDS", 0)
    get_client().department_list()
    get_client().department_list()
    with pytest.raises(WeComRateLimited) as raised:
        get_client().department_list()
    assert raised.value.transient and 0 < raised.value.retry_after <= 60
    assert corp.state()["calls"]["department/list"] == 2


def test_member_app_messages_are_limited_per_member(corp, settings):
    settings.WECOM_MEMBER_MESSAGES_PER_MINUTE = 1
    get_client().send_app_message(["zhangsan"], "text", {"content": "早上好"})
    with pytest.raises(WeComRateLimited):
        get_client().send_app_message(["zhangsan"], "text", {"content": "又一条"})
    get_client().send_app_message(["lisi"], "text", {"content": "早上好"})


def test_contacts_by_user_walk_every_page(corp):
    items = list(get_client().iter_contacts_by_user(["zhangsan", "lisi"]))
    assert len(items) == 151
    assert {item["follow_info"]["userid"] for item in items} == {"zhangsan", "lisi"}
    with pytest.raises(ValueError):
        get_client().batch_get_by_user([f"u{i}" for i in range(101)])


def test_single_contact_and_lists(corp):
    client = get_client()
    assert set(client.follow_user_list()) == {"zhangsan", "lisi"}
    assert len(client.external_contact_ids("zhangsan")) == 150
    contact = client.get_external_contact("wmC0001")
    assert contact["external_contact"]["unionid"] == "oU0001"
    assert {follow["userid"] for follow in contact["follow_user"]} == {"zhangsan", "lisi"}


def test_corp_tags_and_marking(corp):
    client = get_client()
    group = client.add_corp_tags(group_name="资产", tags=[{"name": "10万以上"}])
    tag_id = group["tag"][0]["id"]
    names = {tag["name"] for g in client.corp_tag_list() for tag in g["tag"]}
    assert {"代发", "退休", "10万以上"} <= names
    client.edit_corp_tag(tag_id, name="十万以上")
    client.mark_tag("zhangsan", "wmC0002", add=[tag_id])
    tags = get_client().get_external_contact("wmC0002")["follow_user"][0]["tags"]
    assert [tag["tag_id"] for tag in tags] == [tag_id]
    with pytest.raises(WeComPermanentError) as raised:
        client.add_corp_tags(group_id=group["group_id"], tags=[{"name": "十万以上"}])
    assert raised.value.errcode == 40071
    client.del_corp_tags(tag_ids=[tag_id])
    assert "十万以上" not in {tag["name"] for g in client.corp_tag_list() for tag in g["tag"]}


def test_mass_message_lifecycle(corp):
    client = get_client()
    created = client.add_msg_template(
        {"chat_type": "single", "sender": "zhangsan", "external_userid": ["wmC0001", "wmC0002", "wmNOFRIEND"],
         "text": {"content": "您好"}}
    )  # fmt: skip
    assert created["fail_list"] == ["wmNOFRIEND"]
    msgid = created["msgid"]
    corp.confirm(msgid)
    task = client.get_groupmsg_task(msgid)
    assert task["task_list"][0]["userid"] == "zhangsan"
    results = _send_results_when_dispatched(client, msgid, "zhangsan")
    assert {row["external_userid"]: row["status"] for row in results} == {"wmC0001": 1, "wmC0002": 1}
    assert client.get_groupmsg_list_v2(
        chat_type="single", start_time=int(time.time()) - 86400, end_time=int(time.time()) + 60
    )["group_msg_list"]


def _send_results_when_dispatched(client, msgid, userid):
    deadline = time.monotonic() + 10
    while True:
        try:
            return client.get_groupmsg_send_result(msgid, userid)["send_list"]
        except WeComTransientError as exc:
            if exc.errcode != 41063 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_welcome_code_that_does_not_exist_is_permanent(corp):
    with pytest.raises(WeComPermanentError) as raised:
        get_client().send_welcome_msg("no-such-code", "欢迎")
    assert raised.value.errcode == 41050


def test_transfer_and_its_result(corp):
    client = get_client()
    answers = client.transfer_customer("zhangsan", "lisi", ["wmC0003"], message="换个经理为您服务")
    assert answers == [{"external_userid": "wmC0003", "errcode": 0}]
    waiting = client.transfer_result("zhangsan", "lisi")["customer"]
    assert waiting[0]["status"] == 2
    corp.complete_transfers()
    done = client.transfer_result("zhangsan", "lisi")["customer"]
    assert done[0]["status"] == 1
    with pytest.raises(WeComPermanentError) as raised:
        client.transfer_customer("zhangsan", "lisi", ["wmC0004"], resigned=True)
    assert raised.value.errcode == 40097  # zhangsan has not left


def test_behaviour_data(corp):
    today = int(time.time()) // 86400 * 86400
    rows = get_client().user_behavior_data(["zhangsan"], today - 3 * 86400, today)
    assert rows and {"chat_cnt", "message_cnt", "new_contact_cnt"} <= set(rows[0])
