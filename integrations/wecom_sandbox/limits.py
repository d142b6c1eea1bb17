"""WeCom's per-API frequency limit: per corp per API, per minute and per hour (DOC-90454), answered with 45009.

Fixed windows on the sandbox clock; once a limit is passed, the API stays blocked for the window's length
(60 s, or 60 min for the hourly limit), as WeCom's blocks do.
"""

import threading

from integrations.wecom_sandbox.errors import ApiError


class RateLimiter:
    def __init__(self):
        self._lock = threading.Lock()
        self._windows: dict[str, list] = {}

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()

    def hit(self, name: str, now: float, *, per_minute: int, per_hour: int) -> None:
        with self._lock:
            minute_start, minute_count, hour_start, hour_count, blocked_until = self._windows.get(
                name, [0, 0, 0, 0, 0.0]
            )
            if now < blocked_until:
                raise ApiError(45009, f"{name} is blocked for {int(blocked_until - now) + 1} more seconds")
            if minute_start != now // 60:
                minute_start, minute_count = now // 60, 0
            if hour_start != now // 3600:
                hour_start, hour_count = now // 3600, 0
            minute_count += 1
            hour_count += 1
            error = None
            if minute_count > per_minute:
                blocked_until = now + 60
                error = ApiError(45009, f"more than {per_minute} calls of {name} a minute")
            elif hour_count > per_hour:
                blocked_until = now + 3600
                error = ApiError(45009, f"more than {per_hour} calls of {name} an hour")
            self._windows[name] = [minute_start, minute_count, hour_start, hour_count, blocked_until]
        if error:
            raise error
