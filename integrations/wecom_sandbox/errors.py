"""WeCom's error answers: an errcode with its errmsg, answered with HTTP 200 like the real server."""

ERRMSG = {
    -1: "system busy",
    40001: "invalid credential (secret)",
    40003: "invalid userid",
    40004: "invalid media type",
    40006: "invalid file size",
    40007: "invalid media_id",
    40008: "invalid message type",
    40009: "invalid image size",
    40011: "invalid video size",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40029: "invalid code",
    40056: "invalid agentid",
    40058: "invalid Request Parameter",
    40063: "some parameters are empty",
    40068: "invalid tagid",
    40071: "UserTag Name Already Exist",
    40096: "invalid external userid",
    40097: "the handover member has not resigned",
    40126: "the corp tag count exceeds the limit",
    40128: "customer has been transferred too often",
    40129: "customer transfer in progress",
    40130: "handover and takeover are the same member",
    40131: "handover member is not a follower of the customer",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    41005: "media data missing",
    41009: "missing userid",
    41041: "contact way member count exceeds the limit",
    41045: "contact way count exceeds the corp limit",
    41046: "msgid missing",
    41047: "invalid msgid",
    41048: "no customer can receive the message",
    41050: "invalid welcome code (it is valid for 20 seconds)",
    41051: "the welcome code has been used: chat already started",
    41063: "the mass message is still being dispatched, try again later",
    41064: "too many attachments",
    41065: "invalid attachment type",
    42001: "access_token expired",
    43002: "require POST method",
    45002: "content size out of limit",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    47001: "data format error",
    50100: "invalid cursor",
    60111: "userid not found",
    60123: "invalid party id",
    81013: "user & party & tag all invalid",
    84061: "not external contact",
}


class ApiError(Exception):
    """Raised by an endpoint: answered as {"errcode": N, "errmsg": "...", **extra}."""

    def __init__(self, errcode: int, detail: str = "", **extra):
        self.errcode = errcode
        self.detail = detail
        self.extra = extra
        super().__init__(f"{errcode} {self.errmsg}")

    @property
    def errmsg(self) -> str:
        base = ERRMSG.get(self.errcode, "error")
        text = f"{base}: {self.detail}" if self.detail else base
        # The shape of WeCom's own messages, which point at its errcode lookup page.
        return f"{text}, hint: [sandbox], more info at https://open.work.weixin.qq.com/devtool/query?e={self.errcode}"

    def payload(self) -> dict:
        return {"errcode": self.errcode, "errmsg": self.errmsg, **self.extra}


class ControlError(Exception):
    """A bad request to the control API (HTTP 400 with {"error": ...})."""
