"""Faults switched on at run time through `POST /sandbox/api/faults`, applied before an API call is served.

At most one failure per call, in this order: a hang (sleep past any client timeout, then answer), an HTTP 5xx,
45009, -1. Added latency applies to every matching call. 45033 is decided by the server around the call
(`concurrency_limit`), because it needs the number of data-fetching calls in flight.
"""

import dataclasses
import random
import threading
import time
from dataclasses import dataclass

from integrations.wecom_sandbox.errors import ApiError, ControlError


@dataclass
class FaultSpec:
    path_prefix: str = ""  # only APIs whose name (after /cgi-bin/) starts with this
    error_rate: float = 0.0  # probability of errcode -1 (system busy)
    freq_limit_next: int = 0  # the next N calls answer 45009
    freq_limit_seconds: float = 0.0  # every call answers 45009 for this long (from when it was set)
    concurrency_limit: int | None = None  # data-fetching APIs: more than K in flight answer 45033
    latency_ms: int = 0  # added to every call
    http_error_rate: float = 0.0  # probability of an HTTP 5xx
    http_error_next: int = 0  # the next N calls answer HTTP 5xx
    http_status: int = 503
    hang_next: int = 0  # the next N calls sleep hang_seconds before answering
    hang_seconds: float = 30.0


_RATES = {"error_rate", "http_error_rate"}
_COUNTS = {"freq_limit_next", "http_error_next", "hang_next", "latency_ms"}


class Faults:
    def __init__(self, rng: random.Random):
        self._rng = rng
        self._lock = threading.Lock()
        self.spec = FaultSpec()
        self._freq_until = 0.0

    def update(self, values: dict) -> bool:
        """Merge `values` into the active faults; True when the caller asked to invalidate every token now."""
        values = dict(values)
        invalidate = values.pop("invalidate_tokens", False)
        if not isinstance(invalidate, bool):
            raise ControlError("invalidate_tokens must be true or false")
        known = {f.name for f in dataclasses.fields(FaultSpec)}
        for name, value in values.items():
            if name not in known:
                raise ControlError(f"unknown fault {name!r}; known: {', '.join(sorted(known | {'invalidate_tokens'}))}")
            _check(name, value)
        with self._lock:
            for name, value in values.items():
                if name == "path_prefix":
                    value = value.removeprefix("/").removeprefix("cgi-bin/")
                setattr(self.spec, name, value)
            if "freq_limit_seconds" in values:
                self._freq_until = time.monotonic() + values["freq_limit_seconds"]
        return invalidate

    def clear(self) -> None:
        with self._lock:
            self.spec = FaultSpec()
            self._freq_until = 0.0

    def as_dict(self) -> dict:
        with self._lock:
            data = dataclasses.asdict(self.spec)
            data["freq_limit_seconds_left"] = max(0.0, round(self._freq_until - time.monotonic(), 3))
        return data

    def _applies(self, name: str) -> bool:
        return name.startswith(self.spec.path_prefix)

    def concurrency_limit(self, name: str) -> int | None:
        with self._lock:
            return self.spec.concurrency_limit if self._applies(name) else None

    def before(self, name: str) -> tuple[int, dict | bytes] | None:
        """Sleep as the faults say; an answer to send instead of serving the call, or None to serve it."""
        with self._lock:
            if not self._applies(name):
                return None
            spec = self.spec
            latency = spec.latency_ms / 1000
            outcome = None
            if spec.hang_next > 0:
                spec.hang_next -= 1
                outcome = "hang"
            elif spec.http_error_next > 0:
                spec.http_error_next -= 1
                outcome = "http"
            elif spec.http_error_rate and self._rng.random() < spec.http_error_rate:
                outcome = "http"
            elif spec.freq_limit_next > 0:
                spec.freq_limit_next -= 1
                outcome = "freq"
            elif time.monotonic() < self._freq_until:
                outcome = "freq"
            elif spec.error_rate and self._rng.random() < spec.error_rate:
                outcome = "busy"
            hang_seconds, http_status = spec.hang_seconds, spec.http_status
        if latency:
            time.sleep(latency)
        if outcome == "hang":
            time.sleep(hang_seconds)
            return None
        if outcome == "http":
            return http_status, f"<html><body><h1>{http_status}</h1>sandbox fault</body></html>".encode()
        if outcome == "freq":
            return 200, ApiError(45009, "fault injected").payload()
        if outcome == "busy":
            return 200, ApiError(-1, "fault injected").payload()
        return None


def _check(name: str, value) -> None:
    if name == "path_prefix":
        if not isinstance(value, str):
            raise ControlError("path_prefix must be a string")
        return
    if name == "concurrency_limit" and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ControlError(f"{name} must be a non-negative number")
    if name in _RATES and value > 1:
        raise ControlError(f"{name} is a probability between 0 and 1")
    if (name in _COUNTS or name == "concurrency_limit") and value != int(value):
        raise ControlError(f"{name} must be a whole number")
    if name == "http_status" and not 500 <= value <= 599:
        raise ControlError("http_status must be a 5xx status")
