"""Rate limits WeCom enforces, kept on our side so a burst of work waits its turn instead of being refused.

Fixed windows in the cache (atomic INCR on Redis): per API path per minute for the whole corp, and per member
per minute and per hour for app messages (WeCom silently drops the excess of those).
"""

import time

from django.conf import settings
from django.core.cache import cache

from integrations.wecom.errors import WeComRateLimited


def _take(key: str, limit: int, window: int, now: float) -> float:
    """Count one call in the current window; seconds to wait when the window is full, else 0."""
    bucket = int(now // window)
    full_key = f"{key}:{window}:{bucket}"
    cache.add(full_key, 0, window + 5)
    try:
        count = cache.incr(full_key)
    except ValueError:  # the window expired between add and incr
        cache.add(full_key, 1, window + 5)
        count = 1
    if count <= limit:
        return 0.0
    return (bucket + 1) * window - now


def acquire_api(path: str, *, max_wait: float) -> None:
    """Take one call of `path`; sleeps up to `max_wait` for the next window, else raises WeComRateLimited."""
    limit = settings.WECOM_API_CALLS_PER_MINUTE
    while True:
        wait = _take(f"wecom:rl:api:{path}", limit, 60, time.time())
        if not wait:
            return
        if wait > max_wait:
            raise WeComRateLimited(path, wait)
        time.sleep(wait)


def acquire_member_messages(userids: list[str]) -> None:
    """Take one app message for each member; raises WeComRateLimited (nothing taken back) if any is full."""
    now = time.time()
    waits = []
    for userid in userids:
        waits.append(_take(f"wecom:rl:member:{userid}", settings.WECOM_MEMBER_MESSAGES_PER_MINUTE, 60, now))
        waits.append(_take(f"wecom:rl:member:{userid}", settings.WECOM_MEMBER_MESSAGES_PER_HOUR, 3600, now))
    longest = max(waits, default=0.0)
    if longest:
        raise WeComRateLimited("app messages to members", longest)
