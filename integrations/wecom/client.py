"""The one WeCom client. Every call to WeCom in the product goes through `get_client()`.

Built on wechatpy's work client, corrected where it must be:

- every URL, `gettoken` included, starts at settings.WECOM_API_BASE_URL (wechatpy hard-codes gettoken's);
- the access token is shared through the cache and refreshed by one process at a time (`tokens.py`);
- 40014/42001 refresh the token once and retry once, never wechatpy's unbounded loop;
- transient failures (-1, 45009, 45033, HTTP 5xx, timeouts) are retried with bounded exponential backoff and
  jitter, then raised as WeComTransientError; anything else is a WeComPermanentError straight away;
- every call first takes its place in the per-API rate limit (`ratelimit.py`);
- the endpoints wechatpy lacks or calls wrongly are thin methods here.
"""

import os
import random
import threading
import time
from collections.abc import Callable, Iterator

import requests
from django.conf import settings
from wechatpy.exceptions import WeChatClientException
from wechatpy.work import WeChatClient

from integrations.wecom import ratelimit
from integrations.wecom.errors import TOKEN_ERRCODES, WeComError, WeComPermanentError, WeComTransientError, error_for
from integrations.wecom.tokens import SharedToken

NO_RELATIONSHIP_ERRCODE = 84061
BATCH_USERIDS_MAX = 100  # batch/get_by_user userid_list
TRANSFER_CUSTOMERS_MAX = 100  # transfer_customer external_userid
BACKOFF_CAP_SECONDS = 8.0
# A sync or task may wait this long for room in the per-minute limit before giving the work back to the queue.
RATE_WAIT_MAX_SECONDS = 5.0


class _WeChatPy(WeChatClient):
    """wechatpy's work client aimed at our base URL, without retries of its own, reading the shared token."""

    def __init__(self, owner: "WeComClient"):
        super().__init__(owner.corp_id, owner.secret, timeout=owner.timeout, auto_retry=False)
        self.API_BASE_URL = owner.base_url
        self._owner = owner

    @property
    def access_token(self):
        return self._owner.current_token()

    def _decode_result(self, res):
        result = super()._decode_result(res)
        if not isinstance(result, dict):  # wechatpy hands back the Response; a proxy's HTML page, say
            raise WeChatClientException(None, "the answer is not JSON", client=self, request=res.request, response=res)
        return result

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
        )


class WeComClient:
    def __init__(self, *, base_url: str, corp_id: str, secret: str, agent_id: int, timeout: float, max_retries: int):
        self.base_url = base_url
        self.corp_id = corp_id
        self.secret = secret
        self.agent_id = agent_id
        self.timeout = timeout
        self.max_retries = max_retries
        self._token = SharedToken(corp_id, secret)
        self._local = threading.local()  # the token this thread's current request carries
        self._wx = _WeChatPy(self)

    # --- plumbing ---------------------------------------------------------------------------------------

    def current_token(self) -> str:
        token = self._token.get(self._wx.fetch_access_token)
        self._local.token = token
        return token

    def _call(self, path: str, request: Callable[[], dict], *, repeatable: bool = True) -> dict:
        """`repeatable=False` (a message): retried only after errors that prove nothing happened (a refused
        connection, busy, rate limits, token); an error that may hide a success (`maybe_done`) is raised at once."""
        refreshed = False
        attempt = 0
        while True:
            ratelimit.acquire_api(path, max_wait=RATE_WAIT_MAX_SECONDS)
            try:
                return request()
            except WeChatClientException as exc:
                status = getattr(getattr(exc, "response", None), "status_code", None)
                error = error_for(exc.errcode, str(exc.errmsg or ""), http_status=status, path=path)
            except requests.RequestException as exc:
                error = WeComTransientError(None, f"{type(exc).__name__}: {exc}", path=path)
                # Only a connection that was never made (ConnectTimeout is one) proves the request did not arrive.
                error.maybe_done = not isinstance(exc, requests.ConnectionError)
            if error.errcode in TOKEN_ERRCODES:
                if not refreshed:
                    refreshed = True
                    self._token.refresh(self._wx.fetch_access_token, stale=getattr(self._local, "token", None))
                    continue
                error = WeComTransientError(error.errcode, "access token still invalid after a refresh", path=path)
            if error.transient and attempt < self.max_retries and (repeatable or not error.maybe_done):
                time.sleep(self._backoff(attempt))
                attempt += 1
                continue
            raise error

    @staticmethod
    def _backoff(attempt: int) -> float:
        ceiling = min(BACKOFF_CAP_SECONDS, settings.WECOM_RETRY_BASE_SECONDS * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

    def get(self, path: str, params: dict | None = None) -> dict:
        """Any GET endpoint under the base URL, with the client's token, limits and retries."""
        return self._call(path, lambda: self._wx.get(path, params=dict(params or {})))

    def post(self, path: str, data: dict, *, repeatable: bool = True) -> dict:
        """Any POST endpoint under the base URL, with the client's token, limits and retries."""
        return self._call(path, lambda: self._wx.post(path, data=data), repeatable=repeatable)

    # --- directory --------------------------------------------------------------------------------------

    def department_list(self, department_id: int | None = None) -> list[dict]:
        return self._call("department/list", lambda: {"department": self._wx.department.list(department_id)})[
            "department"
        ]

    def user_list(self, department_id: int, *, fetch_child: bool = True) -> list[dict]:
        return self._call("user/list", lambda: {"userlist": self._wx.user.list(department_id, fetch_child)})["userlist"]

    # --- external contacts ------------------------------------------------------------------------------

    def follow_user_list(self) -> list[str]:
        return self._call("externalcontact/get_follow_user_list", self._wx.external_contact.get_follow_user_list).get(
            "follow_user", []
        )

    def external_contact_ids(self, userid: str) -> list[str]:
        try:
            return self.get("externalcontact/list", {"userid": userid}).get("external_userid", [])
        except WeComPermanentError as exc:
            if exc.errcode == NO_RELATIONSHIP_ERRCODE:  # WeCom's answer for a member without customers
                return []
            raise

    def get_external_contact(self, external_userid: str) -> dict:
        """`externalcontact/get`, every page of follow_user merged (WeCom pages past 500 followers)."""
        result = self.get("externalcontact/get", {"external_userid": external_userid})
        follow_users = list(result.get("follow_user", []))
        cursor = result.get("next_cursor")
        while cursor:
            page = self.get("externalcontact/get", {"external_userid": external_userid, "cursor": cursor})
            follow_users.extend(page.get("follow_user", []))
            cursor = page.get("next_cursor")
        return {"external_contact": result.get("external_contact", {}), "follow_user": follow_users}

    def batch_get_by_user(self, userids: list[str], *, cursor: str = "", limit: int = 100) -> dict:
        if not 1 <= len(userids) <= BATCH_USERIDS_MAX:
            raise ValueError(f"batch/get_by_user takes 1 to {BATCH_USERIDS_MAX} userids, not {len(userids)}")
        data = {"userid_list": list(userids), "cursor": cursor, "limit": limit}
        return self.post("externalcontact/batch/get_by_user", data)

    def iter_contacts_by_user(self, userids: list[str]) -> Iterator[dict]:
        """Every {external_contact, follow_info} of these members, page after page."""
        cursor = ""
        while True:
            page = self.batch_get_by_user(userids, cursor=cursor)
            yield from page.get("external_contact_list", [])
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return

    def remark(self, userid: str, external_userid: str, **fields) -> dict:
        allowed = {"remark", "description", "remark_company", "remark_mobiles", "remark_pic_mediaid"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"remark does not take {sorted(unknown)}")
        return self.post("externalcontact/remark", {"userid": userid, "external_userid": external_userid} | fields)

    # --- corp tags --------------------------------------------------------------------------------------

    def corp_tag_list(self, *, tag_ids: list[str] | None = None, group_ids: list[str] | None = None) -> list[dict]:
        data = {key: value for key, value in (("tag_id", tag_ids), ("group_id", group_ids)) if value}
        return self.post("externalcontact/get_corp_tag_list", data).get("tag_group", [])

    def add_corp_tags(self, *, group_id: str = "", group_name: str = "", tags: list[dict], order: int = 0) -> dict:
        data = {"tag": tags, "order": order} | ({"group_id": group_id} if group_id else {"group_name": group_name})
        return self.post("externalcontact/add_corp_tag", data).get("tag_group", {})

    def edit_corp_tag(self, tag_or_group_id: str, *, name: str | None = None, order: int | None = None) -> dict:
        data = {"id": tag_or_group_id} | ({"name": name} if name else {})
        if order is not None:
            data["order"] = order
        return self.post("externalcontact/edit_corp_tag", data)

    def del_corp_tags(self, *, tag_ids: list[str] = (), group_ids: list[str] = ()) -> dict:
        return self.post("externalcontact/del_corp_tag", {"tag_id": list(tag_ids), "group_id": list(group_ids)})

    def mark_tag(self, userid: str, external_userid: str, *, add: list[str] = (), remove: list[str] = ()) -> dict:
        data = {"userid": userid, "external_userid": external_userid, "add_tag": list(add), "remove_tag": list(remove)}
        return self.post("externalcontact/mark_tag", data)

    # --- mass messages and welcome messages -------------------------------------------------------------

    def add_msg_template(self, template: dict) -> dict:
        return self.post("externalcontact/add_msg_template", template)

    def get_groupmsg_list_v2(self, **query) -> dict:
        return self.post("externalcontact/get_groupmsg_list_v2", query)

    def get_groupmsg_task(self, msgid: str, *, cursor: str = "", limit: int = 1000) -> dict:
        return self.post("externalcontact/get_groupmsg_task", {"msgid": msgid, "cursor": cursor, "limit": limit})

    def get_groupmsg_send_result(self, msgid: str, userid: str, *, cursor: str = "", limit: int = 1000) -> dict:
        data = {"msgid": msgid, "userid": userid, "cursor": cursor, "limit": limit}
        return self.post("externalcontact/get_groupmsg_send_result", data)

    def remind_groupmsg_send(self, msgid: str) -> dict:
        return self.post("externalcontact/remind_groupmsg_send", {"msgid": msgid})

    def cancel_groupmsg_send(self, msgid: str) -> dict:
        return self.post("externalcontact/cancel_groupmsg_send", {"msgid": msgid})

    def send_welcome_msg(self, welcome_code: str, text: str = "", attachments: list | None = None) -> dict:
        data = {"welcome_code": welcome_code} | ({"text": {"content": text}} if text else {})
        if attachments:
            data["attachments"] = attachments
        return self.post("externalcontact/send_welcome_msg", data)

    # --- transfers --------------------------------------------------------------------------------------

    def transfer_customer(
        self, handover: str, takeover: str, external_userids: list[str], *, resigned: bool = False, message: str = ""
    ) -> list[dict]:
        if not 1 <= len(external_userids) <= TRANSFER_CUSTOMERS_MAX:
            raise ValueError(f"a transfer takes 1 to {TRANSFER_CUSTOMERS_MAX} customers, not {len(external_userids)}")
        data = {"handover_userid": handover, "takeover_userid": takeover, "external_userid": list(external_userids)}
        if message and not resigned:  # the resigned form has no message to the customer
            data["transfer_success_msg"] = message
        path = "externalcontact/resigned/transfer_customer" if resigned else "externalcontact/transfer_customer"
        return self.post(path, data).get("customer", [])

    def transfer_result(self, handover: str, takeover: str, *, resigned: bool = False, cursor: str = "") -> dict:
        path = "externalcontact/resigned/transfer_result" if resigned else "externalcontact/transfer_result"
        return self.post(path, {"handover_userid": handover, "takeover_userid": takeover, "cursor": cursor})

    def unassigned_list(self, *, cursor: str = "", page_size: int = 1000) -> dict:
        return self.post("externalcontact/get_unassigned_list", {"cursor": cursor, "page_size": page_size})

    # --- messages to members and behaviour data ---------------------------------------------------------

    def send_app_message(self, userids: list[str], msgtype: str, content: dict) -> dict:
        """An app message to members (text, markdown or textcard), within WeCom's per-member limits."""
        ratelimit.acquire_member_messages(userids)
        data = {"touser": "|".join(userids), "agentid": self.agent_id, "msgtype": msgtype, msgtype: content}
        return self.post("message/send", data, repeatable=False)  # a member must not get the message twice

    def user_behavior_data(self, userids: list[str], start_time: int, end_time: int) -> list[dict]:
        data = {"userid": list(userids), "start_time": start_time, "end_time": end_time}
        return self.post("externalcontact/get_user_behavior_data", data).get("behavior_data", [])

    # --- media, 「联系我」 channel codes, web OAuth (content library and channel codes) ------------------

    def upload_media(self, kind: str, filename: str, content: bytes, content_type: str = "") -> dict:
        """`media/upload` (multipart): a temporary media_id, valid 3 days → {media_id, created_at (int)}."""
        if kind not in ("image", "voice", "video", "file"):
            raise ValueError(f"media/upload takes image, voice, video or file, not {kind!r}")
        part = (filename, content, content_type) if content_type else (filename, content)
        result = self._call(
            "media/upload", lambda: self._wx.post("media/upload", params={"type": kind}, files={"media": part})
        )
        return {"media_id": result["media_id"], "created_at": int(result.get("created_at") or 0)}

    def upload_image(self, filename: str, content: bytes, content_type: str = "") -> str:
        """`media/uploadimg` (JPG/PNG ≤ 2 MB): a permanent image URL, for link and mini-program covers."""
        part = (filename, content, content_type) if content_type else (filename, content)
        return self._call("media/uploadimg", lambda: self._wx.post("media/uploadimg", files={"media": part}))["url"]

    def add_contact_way(self, **config) -> dict:
        """`externalcontact/add_contact_way` → {config_id, qr_code}. `config` is WeCom's body (type, scene, …)."""
        return self.post("externalcontact/add_contact_way", config)

    def update_contact_way(self, config_id: str, **fields) -> dict:
        return self.post("externalcontact/update_contact_way", {"config_id": config_id} | fields)

    def get_contact_way(self, config_id: str) -> dict:
        return self.post("externalcontact/get_contact_way", {"config_id": config_id}).get("contact_way", {})

    def del_contact_way(self, config_id: str) -> dict:
        return self.post("externalcontact/del_contact_way", {"config_id": config_id})

    def oauth_user_info(self, code: str) -> dict:
        """`auth/getuserinfo` for a web OAuth code: {userid} for a member, {openid, external_userid} otherwise."""
        return self.get("auth/getuserinfo", {"code": code})


_clients: dict[tuple, WeComClient] = {}
_clients_lock = threading.Lock()
# A forked child (Celery prefork, gunicorn) must not share the parent's keep-alive sockets: it builds its own.
os.register_at_fork(after_in_child=_clients.clear)


def get_client() -> WeComClient:
    """The process's client for the current settings (tests that point the settings elsewhere get another)."""
    key = (
        settings.WECOM_API_BASE_URL,
        settings.WECOM_CORP_ID,
        settings.WECOM_SECRET,
        settings.WECOM_AGENT_ID,
        settings.WECOM_TIMEOUT_SECONDS,
        settings.WECOM_MAX_RETRIES,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = WeComClient(
                base_url=key[0], corp_id=key[1], secret=key[2], agent_id=key[3], timeout=key[4], max_retries=key[5]
            )
        return client


__all__ = ["WeComClient", "WeComError", "get_client"]
