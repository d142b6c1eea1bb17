"""One exception type for every WeCom failure; `.transient` says whether trying again later can help.

Transient: -1 (system busy), 45009 (frequency limit), 45033 (concurrency limit), 41063 (mass message still
being dispatched), HTTP 5xx, timeouts and
connection errors, and a token that stays invalid after one refresh. Everything else is permanent: retrying an
invalid userid or a content that is too long only burns quota.
"""

# 41063: a mass message's results are asked for while WeCom is still dispatching it; asking later succeeds.
TRANSIENT_ERRCODES = frozenset({-1, 41063, 45009, 45033})
TOKEN_ERRCODES = frozenset({40014, 42001})


class WeComError(Exception):
    transient = False
    # True when WeCom may have carried the request out although we got no answer (a read timeout, a 5xx or a
    # page that is not WeCom's JSON): a call that must not happen twice (a message) is then not repeated.
    maybe_done = False

    def __init__(self, errcode: int | None, errmsg: str = "", *, http_status: int | None = None, path: str = ""):
        self.errcode = errcode
        self.errmsg = errmsg
        self.http_status = http_status
        self.path = path
        where = f" ({path})" if path else ""
        what = f"errcode {errcode}" if errcode is not None else f"HTTP {http_status}" if http_status else "no answer"
        super().__init__(f"WeCom {what}{where}: {errmsg}".rstrip(": "))


class WeComTransientError(WeComError):
    transient = True


class WeComPermanentError(WeComError):
    transient = False


class WeComRateLimited(WeComTransientError):
    """Our own limiter refused the call before it reached WeCom; `retry_after` seconds until there is room."""

    def __init__(self, what: str, retry_after: float):
        self.retry_after = retry_after
        super().__init__(None, f"local rate limit for {what}; retry in {retry_after:.1f}s")


def error_for(errcode: int | None, errmsg: str = "", *, http_status: int | None = None, path: str = "") -> WeComError:
    if errcode is None:
        # No errcode: a network failure, an HTTP error, or a 200 that is not WeCom's JSON (a proxy's page).
        transient = http_status is None or http_status >= 500 or http_status in (200, 429)
    else:
        transient = errcode in TRANSIENT_ERRCODES
    kind = WeComTransientError if transient else WeComPermanentError
    error = kind(errcode, errmsg, http_status=http_status, path=path)
    error.maybe_done = errcode is None and http_status not in (None, 429)  # 429: refused before any work
    return error
