"""The WeCom sandbox over real HTTP: what it answers must be what WeCom answers (../shared/research/wecom-api.md)."""

import calendar
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from wechatpy.exceptions import WeChatClientException
from wechatpy.work import WeChatClient, parse_message

from integrations.wecom_sandbox import names
from tests import wecom_sandbox as sandbox_helpers
from tests.wecom_sandbox import start_sandbox

# The fixtures, bound here too so this module runs whether or not conftest.py imports them.
wecom_sandbox = sandbox_helpers.wecom_sandbox
sandbox = sandbox_helpers.sandbox

CHINA_OFFSET = 8 * 3600
# A fixed sandbox "now" for quota periods: Wednesday 2025-06-11 10:00 China time (June has 30 days).
WEDNESDAY = calendar.timegm((2025, 6, 11, 10, 0, 0)) - CHINA_OFFSET


def at(sandbox, timestamp: int) -> None:
    """Move the sandbox clock so that "now" is `timestamp`."""
    sandbox.settings(clock_offset=timestamp - time.time())


def corp(follows: dict[str, list[str]], *, resigned=(), tags=None) -> dict:
    """A seed payload: members (in department 2 under root 1) following the given customers."""
    members = sorted(set(follows) | set(resigned))
    contacts = sorted({external for externals in follows.values() for external in externals})
    return {
        "departments": [
            {"id": 1, "name": "示范银行", "parentid": 0},
            {"id": 2, "name": "甲分行", "parentid": 1},
            {"id": 3, "name": "甲支行", "parentid": 2},
        ],
        "members": [
            {
                "userid": u,
                "name": f"经理{u}",
                "department": [3 if u.endswith("3") else 2],
                "status": 5 if u in resigned else 1,
            }
            for u in members
        ],
        "contacts": [
            {"external_userid": e, "name": f"客户{e[-4:]}", "gender": 2, "unionid": f"o{e}"} for e in contacts
        ],
        "follows": [
            {"userid": u, "external_userid": e, "createtime": 1_700_000_000 + i, "remark": "代发", "add_way": 1}
            for u, externals in follows.items()
            for i, e in enumerate(externals)
        ],
        "tags": tags or [],
    }


def ext(n: int) -> str:
    return f"wmTEST{n:06d}"


class SandboxClient(WeChatClient):
    """wechatpy's work client pointed at the sandbox (its gettoken URL is hard-coded: override it)."""

    def __init__(self, sandbox, secret=None):
        super().__init__(sandbox.corp_id, secret or sandbox.secret, timeout=5, auto_retry=False)
        self.API_BASE_URL = sandbox.base_url

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
        )


# --- tokens -------------------------------------------------------------------------------------------


def test_gettoken_checks_corp_and_secret_and_reuses_the_token(sandbox):
    def gettoken(**params):
        return requests.get(f"{sandbox.base_url}gettoken", params=params, timeout=5).json()

    assert gettoken(corpid="wrong", corpsecret=sandbox.secret)["errcode"] == 40013
    assert gettoken(corpid=sandbox.corp_id, corpsecret="wrong")["errcode"] == 40001
    assert gettoken(corpsecret=sandbox.secret)["errcode"] == 41002
    first = gettoken(corpid=sandbox.corp_id, corpsecret=sandbox.secret)
    assert first["errcode"] == 0 and first["expires_in"] == 7200
    again = gettoken(corpid=sandbox.corp_id, corpsecret=sandbox.secret)
    assert again["access_token"] == first["access_token"] and again["expires_in"] <= 7200
    state = sandbox.state()
    assert state["gettoken_calls"] == 5 and state["tokens_issued"] == 1


def test_calls_need_a_valid_unexpired_token(sandbox):
    url = f"{sandbox.base_url}externalcontact/get_follow_user_list"
    assert requests.get(url, timeout=5).json()["errcode"] == 41001
    assert requests.get(url, params={"access_token": "nope"}, timeout=5).json()["errcode"] == 40014
    token = sandbox.access_token()
    assert requests.get(url, params={"access_token": token}, timeout=5).json()["errcode"] == 0
    sandbox.settings(clock_offset=7201)
    assert requests.get(url, params={"access_token": token}, timeout=5).json()["errcode"] == 42001
    fresh = requests.get(
        f"{sandbox.base_url}gettoken", params={"corpid": sandbox.corp_id, "corpsecret": sandbox.secret}, timeout=5
    ).json()["access_token"]
    assert fresh != token
    assert requests.get(url, params={"access_token": fresh}, timeout=5).json()["errcode"] == 0


def test_wechatpy_work_client_reads_the_directory_and_contacts(sandbox):
    sandbox.seed(corp({"zhang3": [ext(1), ext(2)], "li": [ext(2)]}, resigned=["gone"]))
    client = SandboxClient(sandbox)
    assert [d["id"] for d in client.department.list()] == [1, 2, 3]
    assert {d["id"] for d in client.department.list(2)} == {2, 3}
    assert [u["userid"] for u in client.user.list(2, fetch_child=False)] == ["li"]
    assert [u["userid"] for u in client.user.list(2, fetch_child=True)] == ["li", "zhang3"]
    assert client.user.get("gone")["status"] == 5  # left the corp: not listed, still readable
    with pytest.raises(WeChatClientException) as missing:
        client.user.get("nobody")
    assert missing.value.errcode == 60111
    assert sorted(client.external_contact.get_follow_user_list()["follow_user"]) == ["li", "zhang3"]
    assert client.external_contact.list("zhang3")["external_userid"] == [ext(1), ext(2)]
    detail = client.external_contact.get(ext(2))
    assert detail["external_contact"]["unionid"] == f"o{ext(2)}"
    assert [f["userid"] for f in detail["follow_user"]] == ["li", "zhang3"]
    assert detail["follow_user"][0]["remark"] == "代发" and "next_cursor" not in detail
    with pytest.raises(WeChatClientException) as lonely:
        client.external_contact.list("gone")
    assert lonely.value.errcode == 84061  # WeCom's answer for a member without customers


# --- contacts -----------------------------------------------------------------------------------------


def test_batch_get_by_user_pages_with_cursors_and_caps_userids(sandbox):
    sandbox.seed(corp({"a": [ext(n) for n in range(130)], "b": [ext(n) for n in range(100, 120)]}))
    seen, cursor, pages = [], "", 0
    while True:
        page = sandbox.api(
            "externalcontact/batch/get_by_user", {"userid_list": ["a", "b"], "cursor": cursor, "limit": 100}
        )
        assert page["errcode"] == 0
        seen += [
            (item["follow_info"]["userid"], item["external_contact"]["external_userid"])
            for item in page["external_contact_list"]
        ]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 2 and len(seen) == 150 and len(set(seen)) == 150
    first = sandbox.api("externalcontact/batch/get_by_user", {"userid_list": ["b"]})
    assert len(first["external_contact_list"]) == 20  # default limit 50
    info = first["external_contact_list"][0]["follow_info"]
    assert info["tag_id"] == [] and info["add_way"] == 1 and info["createtime"] > 0
    deprecated = sandbox.api("externalcontact/batch/get_by_user", {"userid": "b", "limit": 5})
    assert len(deprecated["external_contact_list"]) == 5 and deprecated["next_cursor"]
    too_many = sandbox.api("externalcontact/batch/get_by_user", {"userid_list": [f"u{n}" for n in range(101)]})
    assert too_many["errcode"] == 40058
    bad_cursor = sandbox.api("externalcontact/batch/get_by_user", {"userid_list": ["a"], "cursor": "garbage!"})
    assert bad_cursor["errcode"] == 50100


def test_get_pages_follow_users_past_500(sandbox):
    members = [f"m{n:03d}" for n in range(501)]
    sandbox.seed(corp({member: [ext(1)] for member in members}))
    first = sandbox.api("externalcontact/get", external_userid=ext(1))
    assert len(first["follow_user"]) == 500 and first["next_cursor"]
    second = sandbox.api("externalcontact/get", external_userid=ext(1), cursor=first["next_cursor"])
    assert [f["userid"] for f in second["follow_user"]] == ["m500"] and "next_cursor" not in second
    assert sandbox.api("externalcontact/get", external_userid="wmUNKNOWN")["errcode"] == 40096


def test_remark_validates_lengths_and_needs_a_follow(sandbox):
    sandbox.seed(corp({"a": [ext(1)], "b": [ext(2)]}))
    ok = sandbox.api(
        "externalcontact/remark",
        {
            "userid": "a",
            "external_userid": ext(1),
            "remark": "王阿姨",
            "description": "退休",
            "remark_mobiles": ["13800000000"],
        },
    )
    assert ok["errcode"] == 0
    follow = sandbox.api("externalcontact/get", external_userid=ext(1))["follow_user"][0]
    assert (follow["remark"], follow["description"], follow["remark_mobiles"]) == ("王阿姨", "退休", ["13800000000"])
    assert (
        sandbox.api("externalcontact/remark", {"userid": "a", "external_userid": ext(1), "remark": "长" * 21})[
            "errcode"
        ]
        == 40058
    )
    assert (
        sandbox.api("externalcontact/remark", {"userid": "a", "external_userid": ext(2), "remark": "x"})["errcode"]
        == 84061
    )


# --- corp tags ------------------------------------------------------------------------------------------


def test_corp_tags_crud_duplicates_limit_and_marking(sandbox):
    sandbox.seed(corp({"a": [ext(1)]}))
    sandbox.settings(max_corp_tags=4)
    added = sandbox.api(
        "externalcontact/add_corp_tag", {"group_name": "资产等级", "tag": [{"name": "高"}, {"name": "中"}]}
    )
    group = added["tag_group"]
    assert added["errcode"] == 0 and [t["name"] for t in group["tag"]] == ["高", "中"]
    same_group = sandbox.api("externalcontact/add_corp_tag", {"group_name": "资产等级", "tag": [{"name": "低"}]})
    assert same_group["tag_group"]["group_id"] == group["group_id"]  # an existing group name adds to it
    assert (
        sandbox.api("externalcontact/add_corp_tag", {"group_id": group["group_id"], "tag": [{"name": "高"}]})["errcode"]
        == 40071
    )
    other = sandbox.api("externalcontact/add_corp_tag", {"group_name": "生命周期", "tag": [{"name": "新客"}]})[
        "tag_group"
    ]
    assert (
        sandbox.api("externalcontact/add_corp_tag", {"group_name": "生命周期", "tag": [{"name": "沉睡"}]})["errcode"]
        == 40126
    )
    high, middle = group["tag"][0]["id"], group["tag"][1]["id"]
    assert sandbox.api("externalcontact/edit_corp_tag", {"id": middle, "name": "高"})["errcode"] == 40071
    assert sandbox.api("externalcontact/edit_corp_tag", {"id": middle, "name": "中高"})["errcode"] == 0
    assert sandbox.api("externalcontact/edit_corp_tag", {"id": "etNOPE", "name": "x"})["errcode"] == 40068
    listed = sandbox.api("externalcontact/get_corp_tag_list", {})["tag_group"]
    assert {g["group_name"]: sorted(t["name"] for t in g["tag"]) for g in listed} == {
        "资产等级": ["中高", "低", "高"],
        "生命周期": ["新客"],
    }
    only = sandbox.api("externalcontact/get_corp_tag_list", {"tag_id": [high]})["tag_group"]
    assert [[t["id"] for t in g["tag"]] for g in only] == [[high]]

    assert (
        sandbox.api("externalcontact/mark_tag", {"userid": "a", "external_userid": ext(1), "add_tag": [high]})[
            "errcode"
        ]
        == 0
    )
    assert (
        sandbox.api("externalcontact/mark_tag", {"userid": "a", "external_userid": ext(1), "add_tag": ["etNOPE"]})[
            "errcode"
        ]
        == 40068
    )
    tags = sandbox.api("externalcontact/get", external_userid=ext(1))["follow_user"][0]["tags"]
    assert tags == [{"group_name": "资产等级", "tag_name": "高", "tag_id": high, "type": 1}]
    batch = sandbox.api("externalcontact/batch/get_by_user", {"userid_list": ["a"]})
    assert batch["external_contact_list"][0]["follow_info"]["tag_id"] == [high]

    assert sandbox.api("externalcontact/del_corp_tag", {"tag_id": [other["tag"][0]["id"]]})["errcode"] == 0
    names = [g["group_name"] for g in sandbox.api("externalcontact/get_corp_tag_list", {})["tag_group"]]
    assert names == ["资产等级"]  # the emptied group went with its last tag
    assert sandbox.api("externalcontact/del_corp_tag", {"group_id": [group["group_id"]]})["errcode"] == 0
    assert sandbox.api("externalcontact/get", external_userid=ext(1))["follow_user"][0]["tags"] == []
    assert sandbox.api("externalcontact/del_corp_tag", {"tag_id": [high]})["errcode"] == 40068


# --- mass messages --------------------------------------------------------------------------------------


def send_template(sandbox, recipients, sender="a", **extra):
    return sandbox.api(
        "externalcontact/add_msg_template",
        {"chat_type": "single", "sender": sender, "external_userid": recipients, "text": {"content": "您好"}} | extra,
    )


def results(sandbox, msgid, userid="a"):
    answer = sandbox.api("externalcontact/get_groupmsg_send_result", {"msgid": msgid, "userid": userid})
    if answer["errcode"]:
        return answer["errcode"]
    return {item["external_userid"]: item["status"] for item in answer["send_list"]}


def test_mass_message_is_dispatched_confirmed_and_reports_each_customer(sandbox):
    sandbox.seed(corp({"a": [ext(1), ext(2), ext(3)], "b": [ext(9)]}))
    at(sandbox, WEDNESDAY)
    sandbox.settings(quota_mode="1_per_day", confirm_delay=-1)
    earlier = send_template(sandbox, [ext(3)])
    sandbox.confirm(earlier["msgid"])  # ext(3) has had its one message today

    created = send_template(sandbox, [ext(1), ext(2), ext(3), ext(9)])
    assert created["errcode"] == 0 and created["fail_list"] == [ext(9)]
    msgid = created["msgid"]
    assert results(sandbox, msgid) == 41063  # just created: still being dispatched
    at(sandbox, WEDNESDAY + 3)
    assert results(sandbox, msgid) == {ext(1): 0, ext(2): 0, ext(3): 0}
    task = sandbox.api("externalcontact/get_groupmsg_task", {"msgid": msgid})["task_list"]
    assert task == [{"userid": "a", "status": 0}]

    sandbox.event(change_type="del_follow_user", userid="a", external_userid=ext(2))
    assert sandbox.confirm(msgid)["confirmed"] == ["a"]
    assert results(sandbox, msgid) == 41063  # sending
    at(sandbox, WEDNESDAY + 6)
    assert results(sandbox, msgid) == {ext(1): 1, ext(2): 2, ext(3): 3}
    sent = sandbox.api("externalcontact/get_groupmsg_send_result", {"msgid": msgid, "userid": "a"})["send_list"]
    assert sent[0]["send_time"] == WEDNESDAY + 3 and "send_time" not in sent[1]
    task = sandbox.api("externalcontact/get_groupmsg_task", {"msgid": msgid})["task_list"][0]
    assert task["status"] == 2 and task["send_time"] == WEDNESDAY + 3

    listed = sandbox.api(
        "externalcontact/get_groupmsg_list_v2",
        {"chat_type": "single", "start_time": WEDNESDAY - 60, "end_time": WEDNESDAY + 60, "limit": 1},
    )
    assert listed["group_msg_list"][0]["msgid"] == earlier["msgid"] and listed["next_cursor"]
    assert listed["group_msg_list"][0]["text"] == {"content": "您好"}
    assert sandbox.api("externalcontact/get_groupmsg_task", {"msgid": "msgNOPE"})["errcode"] == 41047
    assert sandbox.api("externalcontact/get_groupmsg_task", {})["errcode"] == 41046


def test_members_confirm_by_themselves_after_the_delay_and_cancel_stops_the_rest(sandbox):
    sandbox.seed(corp({"a": [ext(1)], "b": [ext(2)]}))
    sandbox.settings(confirm_delay=30, dispatch_seconds=0)
    kept = sandbox.api(
        "externalcontact/add_msg_template", {"external_userid": [ext(1), ext(2)], "text": {"content": "hi"}}
    )
    cancelled = send_template(sandbox, [ext(1)])
    assert [
        t["userid"] for t in sandbox.api("externalcontact/get_groupmsg_task", {"msgid": kept["msgid"]})["task_list"]
    ] == ["a", "b"]
    assert sandbox.api("externalcontact/cancel_groupmsg_send", {"msgid": cancelled["msgid"]})["errcode"] == 0
    for _ in range(3):
        assert sandbox.api("externalcontact/remind_groupmsg_send", {"msgid": kept["msgid"]})["errcode"] == 0
    assert sandbox.api("externalcontact/remind_groupmsg_send", {"msgid": kept["msgid"]})["errcode"] == 45009
    sandbox.settings(clock_offset=31)
    assert results(sandbox, kept["msgid"], "b") == {ext(2): 1}
    assert results(sandbox, cancelled["msgid"]) == {ext(1): 0}
    assert (
        sandbox.api("externalcontact/get_groupmsg_task", {"msgid": cancelled["msgid"]})["task_list"][0]["status"] == 0
    )


def test_slow_members_confirm_late_and_always_the_same_members(sandbox):
    members = {f"m{n:02d}": [ext(n)] for n in range(40)}
    sandbox.seed(corp(members))
    sandbox.settings(confirm_delay=10, slow_confirm_share=0.3, slow_confirm_delay=3600, dispatch_seconds=0)

    def confirmed_after(seconds: int, msgid: str) -> set:
        sandbox.settings(clock_offset=seconds)
        tasks = sandbox.api("externalcontact/get_groupmsg_task", {"msgid": msgid})["task_list"]
        return {task["userid"] for task in tasks if task["status"] == 2}

    first = sandbox.api("externalcontact/add_msg_template", {"external_userid": [ext(n) for n in range(40)],
                                                             "text": {"content": "一"}})["msgid"]  # fmt: skip
    quick = confirmed_after(11, first)
    assert 15 < len(quick) < 40  # about 70 % at once, the slow ones not yet
    assert confirmed_after(3601, first) == set(members)
    second = sandbox.api("externalcontact/add_msg_template", {"external_userid": [ext(n) for n in range(40)],
                                                              "text": {"content": "二"}})["msgid"]  # fmt: skip
    assert confirmed_after(3601 + 11, second) == quick  # slowness belongs to the member


@pytest.mark.parametrize(("mode", "allowed"), [("monthly", 30), ("7_per_week", 7), ("1_per_day", 1)])
def test_per_customer_quota_modes(sandbox, mode, allowed):
    sandbox.seed(corp({"a": [ext(1)]}))
    at(sandbox, WEDNESDAY)
    sandbox.settings(quota_mode=mode, confirm_delay=-1, dispatch_seconds=0)
    statuses = []
    for _ in range(allowed + 1):
        msgid = send_template(sandbox, [ext(1)])["msgid"]
        sandbox.confirm(msgid)
        statuses.append(results(sandbox, msgid)[ext(1)])
    assert statuses == [1] * allowed + [3]


def test_add_msg_template_validation(sandbox):
    sandbox.seed(corp({"a": [ext(1)], "b": [ext(2), ext(1)]}))  # b added ext(1) after a did
    assert send_template(sandbox, [ext(1)], text={"content": "字" * 1334})["errcode"] == 45002  # 4002 bytes
    link = {"msgtype": "link", "link": {"title": "理财", "url": "https://bank.example/p"}}
    assert send_template(sandbox, [ext(1)], attachments=[link] * 10)["errcode"] == 41064
    assert send_template(sandbox, [ext(1)], attachments=[{"msgtype": "voice", "voice": {}}])["errcode"] == 41065
    assert (
        send_template(sandbox, [ext(1)], attachments=[{"msgtype": "image", "image": {"media_id": "3nope"}}])["errcode"]
        == 40007
    )
    assert send_template(sandbox, [ext(2)], sender="a")["errcode"] == 41048
    assert sandbox.api("externalcontact/add_msg_template", {"text": {"content": "x"}})["errcode"] == 40063
    # Without a sender each customer goes through one follower (the sandbox: the most recent).
    created = sandbox.api(
        "externalcontact/add_msg_template", {"external_userid": [ext(1), ext(2), "wmNOBODY"], "text": {"content": "x"}}
    )
    assert created["fail_list"] == ["wmNOBODY"]
    tasks = sandbox.api("externalcontact/get_groupmsg_task", {"msgid": created["msgid"]})["task_list"]
    assert [t["userid"] for t in tasks] == ["b"]


def test_tag_filter_selects_customers_by_their_tags(sandbox):
    tags = [
        {
            "group_id": "etG1",
            "group_name": "客群",
            "tag": [{"id": "etRETIRED", "name": "退休"}, {"id": "etPAYROLL", "name": "代发"}],
        }
    ]
    payload = corp({"a": [ext(1), ext(2), ext(3)]}, tags=tags)
    payload["follows"][0]["tags"] = ["etRETIRED"]
    payload["follows"][1]["tags"] = ["etPAYROLL"]
    sandbox.seed(payload)
    sandbox.settings(dispatch_seconds=0)
    created = sandbox.api(
        "externalcontact/add_msg_template",
        {
            "sender": "a",
            "text": {"content": "x"},
            "tag_filter": {"group_list": [{"tag_list": ["etRETIRED", "etPAYROLL"]}]},
        },
    )
    assert results(sandbox, created["msgid"]) == {ext(1): 0, ext(2): 0}


# --- welcome messages ---------------------------------------------------------------------------------


def test_welcome_code_is_valid_20_seconds_and_once(sandbox):
    sandbox.seed(corp({"a": []}))
    added = sandbox.event(change_type="add_external_contact", userid="a", state="qr_branch_7", name="周阿姨")
    code, customer = added["welcome_code"], added["external_userid"]
    assert code and customer.startswith("wm")
    follow = sandbox.api("externalcontact/get", external_userid=customer)["follow_user"][0]
    assert follow["state"] == "qr_branch_7" and follow["add_way"] == 1
    welcome = {"welcome_code": code, "text": {"content": "您好，我是您的专属客户经理"}}
    assert sandbox.api("externalcontact/send_welcome_msg", welcome)["errcode"] == 0
    assert sandbox.api("externalcontact/send_welcome_msg", welcome)["errcode"] == 41051
    late = sandbox.event(change_type="add_external_contact", userid="a")["welcome_code"]
    sandbox.settings(clock_offset=21)
    assert (
        sandbox.api("externalcontact/send_welcome_msg", {"welcome_code": late, "text": {"content": "x"}})["errcode"]
        == 41050
    )
    [sent] = sandbox.received()["welcome_messages"]
    assert (sent["external_userid"], sent["text"]["content"]) == (customer, "您好，我是您的专属客户经理")


# --- transfers -------------------------------------------------------------------------------------------


def transfer(sandbox, handover, takeover, customers, resigned=False):
    path = "externalcontact/resigned/transfer_customer" if resigned else "externalcontact/transfer_customer"
    return sandbox.api(path, {"handover_userid": handover, "takeover_userid": takeover, "external_userid": customers})


def test_on_the_job_transfer_completes_later_and_at_most_twice_in_90_days(sandbox):
    sandbox.seed(corp({"a": [ext(1)], "b": [], "c": []}))
    sandbox.settings(transfer_delay=3600)
    answer = transfer(sandbox, "a", "b", [ext(1), ext(2)])
    assert answer["customer"] == [
        {"external_userid": ext(1), "errcode": 0},
        {"external_userid": ext(2), "errcode": 40131},
    ]
    assert transfer(sandbox, "a", "a", [ext(1)])["errcode"] == 40130
    assert transfer(sandbox, "a", "b", [ext(1)])["customer"][0]["errcode"] == 40129  # already waiting
    waiting = sandbox.api("externalcontact/transfer_result", {"handover_userid": "a", "takeover_userid": "b"})[
        "customer"
    ]
    assert waiting[0]["status"] == 2 and waiting[0]["takeover_time"] > time.time() + 3000
    assert sandbox.complete_transfers()["completed"] == 1
    done = sandbox.api("externalcontact/transfer_result", {"handover_userid": "a", "takeover_userid": "b"})["customer"][
        0
    ]
    assert done["status"] == 1
    assert sandbox.api("externalcontact/list", userid="b")["external_userid"] == [ext(1)]
    follow = sandbox.api("externalcontact/get", external_userid=ext(1))["follow_user"]
    assert [(f["userid"], f["remark"], f["add_way"]) for f in follow] == [("b", "代发", 202)]
    assert transfer(sandbox, "b", "c", [ext(1)])["customer"][0]["errcode"] == 0
    sandbox.complete_transfers()
    assert transfer(sandbox, "c", "a", [ext(1)])["customer"][0]["errcode"] == 40128
    sandbox.settings(clock_offset=91 * 86400)
    assert transfer(sandbox, "c", "a", [ext(1)])["customer"][0]["errcode"] == 0


def test_transfers_complete_by_themselves_after_the_delay(sandbox):
    sandbox.seed(corp({"a": [ext(1)], "b": []}))
    sandbox.settings(transfer_delay=60)
    transfer(sandbox, "a", "b", [ext(1)])
    sandbox.settings(clock_offset=61)
    result = sandbox.api("externalcontact/transfer_result", {"handover_userid": "a", "takeover_userid": "b"})
    assert result["customer"][0]["status"] == 1


def test_resigned_transfer_and_unassigned_list(sandbox):
    sandbox.seed(corp({"a": [ext(1)], "b": [], "r": [ext(2), ext(3)]}, resigned=["r"]))
    assert transfer(sandbox, "a", "b", [ext(1)], resigned=True)["errcode"] == 40097
    unassigned = sandbox.api("externalcontact/get_unassigned_list", {"page_size": 1})
    assert unassigned["info"][0]["handover_userid"] == "r" and not unassigned["is_last"]
    rest = sandbox.api("externalcontact/get_unassigned_list", {"page_size": 1, "cursor": unassigned["next_cursor"]})
    assert rest["is_last"] and {unassigned["info"][0]["external_userid"], rest["info"][0]["external_userid"]} == {
        ext(2),
        ext(3),
    }
    assert transfer(sandbox, "r", "b", [ext(2)], resigned=True)["customer"][0]["errcode"] == 0
    left = sandbox.api("externalcontact/get_unassigned_list", {})["info"]
    assert [item["external_userid"] for item in left] == [ext(3)]
    sandbox.complete_transfers()
    result = sandbox.api("externalcontact/resigned/transfer_result", {"handover_userid": "r", "takeover_userid": "b"})
    assert result["customer"][0]["status"] == 1


# --- app messages -------------------------------------------------------------------------------------


def test_message_send_reports_invalid_users_and_drops_over_the_member_limit(sandbox):
    sandbox.seed(corp({"a": [], "b": []}, resigned=["r"]))
    card = {
        "title": "今日待办",
        "description": "3 位客户待跟进",
        "url": "https://workbench.example/tasks",
        "btntxt": "查看",
    }

    def send(touser, msgtype="textcard", body=card, agentid=sandbox.agent_id):
        return sandbox.api("message/send", {"touser": touser, "msgtype": msgtype, "agentid": agentid, msgtype: body})

    answer = send("a|r|ghost")
    assert answer["errcode"] == 0 and answer["invaliduser"] == "r|ghost" and answer["msgid"]
    assert send("r|ghost")["errcode"] == 81013
    assert send("a", agentid=1)["errcode"] == 40056
    assert send("a", body=card | {"title": "题" * 43})["errcode"] == 45002  # 129 bytes
    assert send("a", "markdown", {"content": "x" * 2049})["errcode"] == 45002
    sandbox.settings(app_msg_per_minute=3)
    for _ in range(4):
        assert send("b", "text", {"content": "提醒"})["errcode"] == 0  # excess is dropped silently
    outcomes = [d["outcome"] for m in sandbox.received()["app_messages"] for d in m["deliveries"] if d["userid"] == "b"]
    assert sorted(outcomes) == ["delivered"] * 3 + ["dropped"]


# --- faults and limits ------------------------------------------------------------------------------------


def test_fault_error_rate_freq_bursts_and_path_prefix(sandbox):
    sandbox.seed(corp({"a": [ext(1)]}))
    token = sandbox.access_token()
    sandbox.faults(error_rate=1.0, path_prefix="externalcontact/")
    assert sandbox.api("externalcontact/list", userid="a")["errcode"] == -1
    assert sandbox.api("department/list")["errcode"] == 0
    sandbox.clear_faults()
    sandbox.faults(freq_limit_next=2)
    assert [sandbox.api("department/list")["errcode"] for _ in range(3)] == [45009, 45009, 0]
    sandbox.faults(freq_limit_seconds=0.3)
    assert sandbox.api("department/list")["errcode"] == 45009
    time.sleep(0.35)
    assert sandbox.api("department/list")["errcode"] == 0
    sandbox.faults(invalidate_tokens=True)
    assert sandbox.api("department/list")["errcode"] == 40014
    sandbox._token = None
    assert sandbox.access_token() != token and sandbox.api("department/list")["errcode"] == 0


def test_fault_http_errors_hangs_and_latency(sandbox):
    token = sandbox.access_token()
    url = f"{sandbox.base_url}department/list"
    sandbox.faults(http_error_next=1, http_status=502)
    assert requests.get(url, params={"access_token": token}, timeout=5).status_code == 502
    assert requests.get(url, params={"access_token": token}, timeout=5).json()["errcode"] == 0
    sandbox.faults(hang_next=1, hang_seconds=1.0)
    with pytest.raises(requests.Timeout):
        requests.get(url, params={"access_token": token}, timeout=0.3)
    assert requests.get(url, params={"access_token": token}, timeout=5).json()["errcode"] == 0
    sandbox.faults(latency_ms=250)
    started = time.monotonic()
    assert requests.get(url, params={"access_token": token}, timeout=5).json()["errcode"] == 0
    assert time.monotonic() - started >= 0.25
    sandbox.clear_faults()
    client = SandboxClient(sandbox)
    sandbox.faults(http_error_next=1)
    with pytest.raises(WeChatClientException) as raised:
        client.department.list()
    assert raised.value.errcode is None  # wechatpy's shape for a non-2xx answer


def test_fault_concurrency_limit_answers_45033(sandbox):
    sandbox.seed(corp({"a": [ext(1)]}))
    sandbox.access_token()
    sandbox.faults(concurrency_limit=1, latency_ms=400)
    with ThreadPoolExecutor(max_workers=3) as pool:
        codes = sorted(pool.map(lambda _: sandbox.api("externalcontact/list", userid="a")["errcode"], range(3)))
    assert codes[0] == 0 and 45033 in codes
    assert sandbox.api("department/list")["errcode"] == 0  # not a data-fetching API


def test_per_api_frequency_limit(sandbox):
    sandbox.access_token()
    sandbox.settings(api_rate_per_minute=3)
    assert [sandbox.api("department/list")["errcode"] for _ in range(4)] == [0, 0, 0, 45009]
    assert sandbox.api("user/get", userid="x")["errcode"] == 60111  # the limit is per API
    sandbox.settings(clock_offset=61)
    assert sandbox.api("department/list")["errcode"] == 0


# --- callbacks --------------------------------------------------------------------------------------------


class Receiver:
    """A tiny callback endpoint: records every request and answers as `plan` says ((status, delay) per request)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.plan: list[tuple[int, float]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                receiver.requests.append(
                    {"query": {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}, "body": body}
                )
                status, delay = receiver.plan.pop(0) if receiver.plan else (200, 0)
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wecom/callback/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def decrypt(self, sandbox, request: dict):
        query = request["query"]
        xml = sandbox.crypto().decrypt_message(
            request["body"], query["msg_signature"], query["timestamp"], query["nonce"]
        )
        return parse_message(xml)


@pytest.fixture
def receiver(sandbox):
    receiver = Receiver()
    sandbox.settings(callback_url=receiver.url, callback_timeout=0.3, callback_retry_pause=0.05)
    yield receiver
    receiver.server.shutdown()


def test_events_post_encrypted_callbacks_that_wechatpy_decrypts(sandbox, receiver):
    sandbox.seed(corp({"a": [ext(1)]}))
    answer = sandbox.event(change_type="add_external_contact", userid="a", state="qr_7")
    assert answer["delivery"]["delivered"] and len(answer["delivery"]["attempts"]) == 1
    [request] = receiver.requests
    assert "<Encrypt>" in request["body"] and "<ToUserName><![CDATA[wwtestcorp]]>" in request["body"]
    event = receiver.decrypt(sandbox, request)
    assert (event.event, event.change_type, event.user_id, event.state) == (
        "change_external_contact",
        "add_external_contact",
        "a",
        "qr_7",
    )
    assert event.external_user_id == answer["external_userid"] and event.welcome_code == answer["welcome_code"]
    assert event.source == "sys"

    sandbox.event(change_type="del_external_contact", userid="a", external_userid=ext(1), source="DELETE_BY_TRANSFER")
    deleted = receiver.decrypt(sandbox, receiver.requests[-1])
    assert (deleted.change_type, deleted.del_source) == ("del_external_contact", "DELETE_BY_TRANSFER")
    assert sandbox.api("externalcontact/list", userid="a")["errcode"] == 0  # only the new contact is left
    tagged = sandbox.event(event="change_external_tag", change_type="create", tag_name="新标签")
    created = receiver.decrypt(sandbox, receiver.requests[-1])
    assert (created.event, created.tag_type, created.tag_id) == ("change_external_tag", "tag", tagged["fields"]["Id"])


def test_callbacks_are_retried_three_times(sandbox, receiver):
    sandbox.seed(corp({"a": [ext(1)]}))
    receiver.plan = [(500, 0), (500, 0), (200, 0)]
    answer = sandbox.event(change_type="edit_external_contact", userid="a", external_userid=ext(1), remark="王阿姨")
    assert answer["delivery"]["delivered"]
    assert [a["status"] for a in answer["delivery"]["attempts"]] == [500, 500, 200]
    assert len(receiver.requests) == 3
    receiver.plan = [(200, 0.6)] * 3  # slower than the 0.3 s timeout every time
    slow = sandbox.event(change_type="del_follow_user", userid="a", external_userid=ext(1))
    assert not slow["delivery"]["delivered"]
    assert [a["status"] for a in slow["delivery"]["attempts"]] == [None, None, None]
    assert all("timed out" in a["error"] or "Timeout" in a["error"] for a in slow["delivery"]["attempts"])
    recorded = sandbox.callbacks()
    assert [c["delivered"] for c in recorded[:2]] == [False, True]


def test_refused_transfer_posts_transfer_fail(sandbox, receiver):
    sandbox.seed(corp({"a": [ext(1)], "b": []}))
    sandbox.settings(transfer_refuse_rate=1.0)
    transfer(sandbox, "a", "b", [ext(1)])
    completed = sandbox.complete_transfers()
    assert completed["refused"] == 1
    event = receiver.decrypt(sandbox, receiver.requests[-1])
    assert (event.change_type, event.user_id, event.fail_reason) == ("transfer_fail", "b", "customer_refused")
    result = sandbox.api("externalcontact/transfer_result", {"handover_userid": "a", "takeover_userid": "b"})
    assert result["customer"][0]["status"] == 3
    assert sandbox.api("externalcontact/list", userid="a")["external_userid"] == [ext(1)]


def test_simulator_step_changes_state_and_posts_a_callback(sandbox, receiver):
    sandbox.seed(corp({"a": [ext(1)], "b": [ext(2)]}))
    for _ in range(6):
        assert sandbox._control("POST", "simulate/step")["ok"]
    assert len(receiver.requests) == 6
    known = {
        "add_external_contact",
        "add_half_external_contact",
        "edit_external_contact",
        "del_external_contact",
        "del_follow_user",
        "create",
    }
    events = [receiver.decrypt(sandbox, request) for request in receiver.requests]
    assert {event.change_type for event in events} <= known
    adds = [e for e in events if e.change_type in ("add_external_contact", "add_half_external_contact")]
    for added in adds:  # a simulated customer really is a contact now (unless a later step deleted them)
        answer = sandbox.api("externalcontact/get", external_userid=added.external_user_id)
        assert answer["errcode"] in (0, 84061) and answer.get("external_contact", {"type": 1})["type"] == 1


def test_simulated_admins_add_each_member_tag_once_in_its_own_group(sandbox, receiver):
    sandbox.seed(corp({"a": [ext(1)], "b": [ext(2)]}))
    for _ in range(150):
        sandbox._control("POST", "simulate/step")
    groups = sandbox.api("externalcontact/get_corp_tag_list", {})["tag_group"]
    added = [group for group in groups if group["group_name"] == names.MEMBER_TAG_GROUP]
    assert len(added) == 1  # one group, however many tags went into it
    tag_names = [tag["name"] for tag in added[0]["tag"]]
    assert tag_names and len(tag_names) == len(set(tag_names)) and set(tag_names) <= set(names.MEMBER_TAGS)
    other_groups = [tag["name"] for group in groups if group is not added[0] for tag in group["tag"]]
    assert not set(other_groups) & set(names.MEMBER_TAGS)


# --- contact ways, media, behaviour data, OAuth ---------------------------------------------------------


def test_contact_way_crud_and_member_limit(sandbox):
    sandbox.seed(corp({f"m{n:03d}": [] for n in range(101)}))
    way = {"type": 2, "scene": 2, "remark": "网点海报", "state": "qr_branch_7", "user": ["m000", "m001"]}
    added = sandbox.api("externalcontact/add_contact_way", way)
    assert added["errcode"] == 0 and added["qr_code"].startswith(sandbox.url)
    image = requests.get(added["qr_code"], timeout=5)  # an image, as WeCom gives, of the page that "scans" it
    assert image.headers["Content-Type"] == "image/png" and image.content.startswith(b"\x89PNG\r\n\x1a\n")
    dashboard = requests.get(f"{sandbox.url}/sandbox/", timeout=5).text
    assert "qr_branch_7" in dashboard and f'/sandbox/contact_way/{added["config_id"]}"' in dashboard
    config = sandbox.api("externalcontact/get_contact_way", {"config_id": added["config_id"]})["contact_way"]
    assert (config["state"], config["user"]) == ("qr_branch_7", ["m000", "m001"])
    assert (
        sandbox.api("externalcontact/update_contact_way", {"config_id": added["config_id"], "remark": "新海报"})[
            "errcode"
        ]
        == 0
    )
    assert (
        sandbox.api("externalcontact/add_contact_way", way | {"user": [f"m{n:03d}" for n in range(101)]})["errcode"]
        == 41041
    )
    assert sandbox.api("externalcontact/add_contact_way", way | {"type": 1})["errcode"] == 40058
    assert sandbox.api("externalcontact/add_contact_way", way | {"state": "s" * 31})["errcode"] == 40058
    listed = sandbox.api("externalcontact/list_contact_way", {})["contact_way"]
    assert listed == [{"config_id": added["config_id"]}]
    assert sandbox.api("externalcontact/del_contact_way", {"config_id": added["config_id"]})["errcode"] == 0
    assert sandbox.api("externalcontact/get_contact_way", {"config_id": added["config_id"]})["errcode"] == 40058


def test_media_upload_and_use_in_a_mass_message(sandbox):
    sandbox.seed(corp({"a": [ext(1)]}))
    token = sandbox.access_token()
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    uploaded = requests.post(
        f"{sandbox.base_url}media/upload",
        params={"access_token": token, "type": "image"},
        files={"media": ("poster.png", png, "image/png")},
        timeout=5,
    ).json()
    assert uploaded["errcode"] == 0 and uploaded["type"] == "image" and isinstance(uploaded["created_at"], str)
    image = {"msgtype": "image", "image": {"media_id": uploaded["media_id"]}}
    assert send_template(sandbox, [ext(1)], attachments=[image])["errcode"] == 0
    bad_type = requests.post(
        f"{sandbox.base_url}media/upload",
        params={"access_token": token, "type": "gif"},
        files={"media": ("a.gif", png, "image/gif")},
        timeout=5,
    ).json()
    assert bad_type["errcode"] == 40004
    permanent = requests.post(
        f"{sandbox.base_url}media/uploadimg",
        params={"access_token": token},
        files={"media": ("poster.png", png, "image/png")},
        timeout=5,
    ).json()
    assert requests.get(permanent["url"], timeout=5).content == png
    assert [m["filename"] for m in sandbox.received()["media"]] == ["poster.png", "poster.png"]


def test_user_behavior_data_is_daily_summed_and_bounded(sandbox):
    sandbox.seed(corp({"a": [], "b": []}))
    at(sandbox, WEDNESDAY)
    week = {"start_time": WEDNESDAY - 7 * 86400, "end_time": WEDNESDAY - 86400}
    alone = sandbox.api("externalcontact/get_user_behavior_data", {"userid": ["a"]} | week)["behavior_data"]
    assert (
        len(alone) == 7
        and alone == sandbox.api("externalcontact/get_user_behavior_data", {"userid": ["a"]} | week)["behavior_data"]
    )
    other = sandbox.api("externalcontact/get_user_behavior_data", {"userid": ["b"]} | week)["behavior_data"]
    both = sandbox.api("externalcontact/get_user_behavior_data", {"userid": ["a", "b"]} | week)["behavior_data"]
    assert [d["chat_cnt"] for d in both] == [x["chat_cnt"] + y["chat_cnt"] for x, y in zip(alone, other, strict=True)]
    party = sandbox.api("externalcontact/get_user_behavior_data", {"partyid": [2]} | week)["behavior_data"]
    assert party == both
    month = {"start_time": WEDNESDAY - 40 * 86400, "end_time": WEDNESDAY - 86400}
    assert sandbox.api("externalcontact/get_user_behavior_data", {"userid": ["a"]} | month)["errcode"] == 40058
    old = {"start_time": WEDNESDAY - 200 * 86400, "end_time": WEDNESDAY - 190 * 86400}
    assert sandbox.api("externalcontact/get_user_behavior_data", {"userid": ["a"]} | old)["errcode"] == 40058


def test_web_oauth_member_picker_issues_a_one_time_code(sandbox):
    sandbox.seed(corp({"a": [], "b": []}))
    query = {
        "appid": sandbox.corp_id,
        "redirect_uri": "http://127.0.0.1:8000/wecom/oauth/?next=/",
        "response_type": "code",
        "scope": "snsapi_base",
        "state": "xyz",
    }
    page = requests.get(f"{sandbox.url}/connect/oauth2/authorize", params=query, timeout=5)
    assert page.status_code == 200 and "经理b" in page.text
    link = f"{sandbox.url}/connect/oauth2/authorize/pick"
    redirect = requests.get(link, params=query | {"userid": "b"}, allow_redirects=False, timeout=5)
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["Location"])
    params = parse_qs(location.query)
    assert location.path == "/wecom/oauth/" and params["state"] == ["xyz"] and params["next"] == ["/"]
    code = params["code"][0]
    assert sandbox.api("auth/getuserinfo", code=code) == {"errcode": 0, "errmsg": "ok", "userid": "b"}
    assert sandbox.api("auth/getuserinfo", code=code)["errcode"] == 40029
    wrong = requests.get(f"{sandbox.url}/connect/oauth2/authorize", params=query | {"appid": "wwother"}, timeout=5)
    assert wrong.status_code == 400


def test_js_sdk_tickets(sandbox):
    corp_ticket = sandbox.api("get_jsapi_ticket")
    agent_ticket = sandbox.api("ticket/get", type="agent_config")
    assert corp_ticket["expires_in"] == 7200 and agent_ticket["ticket"] != corp_ticket["ticket"]
    assert sandbox.api("get_jsapi_ticket")["ticket"] == corp_ticket["ticket"]


# --- the page, persistence, seeding ---------------------------------------------------------------------


def test_sandbox_page_lists_what_was_received_and_confirms_pending_tasks(sandbox):
    sandbox.seed(corp({"a": [ext(1)]}))
    sandbox.settings(confirm_delay=-1, dispatch_seconds=0)
    msgid = send_template(sandbox, [ext(1)], text={"content": "六月理财早知道"})["msgid"]
    sandbox.api(
        "message/send",
        {"touser": "a", "msgtype": "text", "agentid": sandbox.agent_id, "text": {"content": "请确认群发"}},
    )
    page = requests.get(f"{sandbox.url}/sandbox/", timeout=5).text
    assert "六月理财早知道" in page and "请确认群发" in page and "代成员确认发送" in page
    requests.post(f"{sandbox.url}/sandbox/groupmsg/{msgid}/confirm", data={"userid": "a"}, timeout=5)
    assert results(sandbox, msgid) == {ext(1): 1}


def test_customer_page_shows_each_members_tags_on_the_customer(sandbox):
    sandbox.seed(corp({"a": [ext(1)], "b": [ext(1), ext(2)]}))
    group = sandbox.api("externalcontact/add_corp_tag", {"group_name": "资产等级", "tag": [{"name": "百万级"}]})
    tag_id = group["tag_group"]["tag"][0]["id"]
    sandbox.api("externalcontact/mark_tag", {"userid": "b", "external_userid": ext(1), "add_tag": [tag_id]})
    found = requests.get(f"{sandbox.url}/sandbox/contacts", params={"q": ext(1)}, timeout=5).text
    rows = found.split("<tr>")[2:]  # after the header row: one row per member who follows the customer
    assert len(rows) == 2
    tagged = [row for row in rows if "资产等级 / 百万级" in row]
    assert len(tagged) == 1 and "<code>b</code>" in tagged[0]
    assert "没有找到" in requests.get(f"{sandbox.url}/sandbox/contacts", params={"q": "无此人"}, timeout=5).text
    assert "查看客户资料" in requests.get(f"{sandbox.url}/sandbox/", timeout=5).text


def test_seed_rejects_malformed_payloads(sandbox):
    response = requests.post(f"{sandbox.url}/sandbox/api/seed", json={"members": [{"name": "无id"}]}, timeout=5)
    assert response.status_code == 400 and "userid" in response.json()["error"]
    response = requests.post(f"{sandbox.url}/sandbox/api/settings", json={"quota_mode": "weekly"}, timeout=5)
    assert response.status_code == 400


def test_state_persists_across_a_restart(tmp_path):
    sandbox = start_sandbox(state=tmp_path / "state.sqlite3")
    try:
        sandbox.seed(corp({"a": [ext(1), ext(2)]}))
        group = sandbox.api("externalcontact/add_corp_tag", {"group_name": "标签组", "tag": [{"name": "甲"}]})[
            "tag_group"
        ]
        token = sandbox.access_token()
        before = sandbox.state()
        sandbox.restart()
        after = sandbox.state()
        for key in ("members", "contacts", "follows", "tags", "tokens_issued"):
            assert after[key] == before[key]
        answer = requests.get(
            f"{sandbox.base_url}externalcontact/list", params={"access_token": token, "userid": "a"}, timeout=5
        )
        assert answer.json()["external_userid"] == [ext(1), ext(2)]
        listed = sandbox.api("externalcontact/get_corp_tag_list", {})["tag_group"]
        assert [g["group_id"] for g in listed] == [group["group_id"]]
    finally:
        sandbox.stop()


@pytest.mark.django_db(transaction=True)
def test_from_workbench_loads_a_snapshot_of_the_bank(bank):
    from django.db import connection

    from tagging.models import FollowRelationship

    settings_dict = connection.settings_dict
    database_url = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    )
    sandbox = start_sandbox(from_workbench=True, database_url=database_url)
    try:
        state = sandbox.state()
        live = FollowRelationship.objects.filter(deleted_at__isnull=True)
        assert state["seeded_from"] == "workbench"
        assert (state["departments"], state["members"], state["contacts"]) == (7, 10, len(bank.customers))
        assert state["follows"] == live.count()
        # Branches without a WeCom department id get a stable derived one: 100000 + pk.
        departments = sandbox.api("department/list")["department"]
        root = next(d for d in departments if d["name"] == "示范银行总行")
        assert root["id"] == 100_000 + bank.head.pk and root["parentid"] == 0
        assert sorted(d["name"] for d in departments if d["parentid"] == root["id"]) == ["乙分行", "甲分行"]
        assert sandbox.api("user/get", userid="resigned")["status"] == 5
        assert sandbox.api("user/get", userid="operator_a")["status"] == 1
        mine = sorted(sandbox.api("externalcontact/list", userid="operator_a")["external_userid"])
        expected = sorted(
            live.filter(operator=bank.operators["operator_a"]).values_list("customer__external_userid", flat=True)
        )
        assert mine == expected and len(mine) == 3
        # b_own has an owner but no follow relationship: a known contact nobody follows.
        assert sandbox.api("externalcontact/get", external_userid="wmBOWN0001")["errcode"] == 84061
        shared = sandbox.api("externalcontact/get", external_userid=bank.customers["b_shared"].external_userid)
        assert shared["external_contact"]["name"] == "乙客户贰" and shared["external_contact"]["gender"] == 0
    finally:
        sandbox.stop()
