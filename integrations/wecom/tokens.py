"""The access token, shared by every process through the cache (Redis in production) and refreshed by one.

WeCom throttles `gettoken` and may invalidate a token early. Each process asks the cache first; only the
process holding the refresh lock calls `gettoken`, the others wait for the token it stores. A refresh caused by
40014/42001 names the token that failed, so a process arriving after someone else's refresh just takes the new
token instead of fetching another.
"""

import hashlib
import random
import time
from collections.abc import Callable

from django.core.cache import cache

from integrations.wecom.errors import WeComTransientError

# Stored for WeCom's lifetime minus this margin, so nobody uses a token in its last minutes.
EXPIRY_MARGIN_SECONDS = 300
LOCK_SECONDS = 30
WAIT_SECONDS = 35


class SharedToken:
    def __init__(self, corp_id: str, secret: str):
        digest = hashlib.sha256(f"{corp_id}:{secret}".encode()).hexdigest()[:16]
        self.key = f"wecom:token:{digest}"
        self.lock_key = f"{self.key}:lock"

    def get(self, fetch: Callable[[], dict]) -> str:
        return cache.get(self.key) or self.refresh(fetch, stale=None)

    def refresh(self, fetch: Callable[[], dict], *, stale: str | None) -> str:
        """A token other than `stale`: the one another process just stored, or a freshly fetched one."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            current = cache.get(self.key)
            if current and current != stale:
                return current
            if cache.add(self.lock_key, "1", LOCK_SECONDS):
                try:
                    current = cache.get(self.key)
                    if current and current != stale:
                        return current
                    result = fetch()
                    token = result["access_token"]
                    lifetime = int(result.get("expires_in") or 7200)
                    cache.set(self.key, token, max(60, lifetime - EXPIRY_MARGIN_SECONDS))
                    return token
                finally:
                    cache.delete(self.lock_key)
            time.sleep(0.05 + random.random() * 0.1)  # noqa: S311 - jitter, not security
        raise WeComTransientError(None, "timed out waiting for another process to refresh the access token")

    def forget(self) -> None:
        cache.delete(self.key)
