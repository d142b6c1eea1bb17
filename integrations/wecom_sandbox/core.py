"""The sandbox itself: state, settings, faults, limits and callbacks, and how one API call is served."""

import copy
import json
import logging
import random
import sys
import threading
import time
from collections import Counter

from integrations.wecom_sandbox import dispatch
from integrations.wecom_sandbox.callbacks import CallbackSender
from integrations.wecom_sandbox.config import Identity, Settings
from integrations.wecom_sandbox.endpoints import REGISTRY, Call, load_all
from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.faults import Faults
from integrations.wecom_sandbox.limits import RateLimiter
from integrations.wecom_sandbox.simulator import Simulator
from integrations.wecom_sandbox.state import Store, one

log = logging.getLogger("wecom_sandbox")


class SandboxApp:
    def __init__(self, *, identity: Identity, settings: Settings, store: Store, quiet: bool = False, seed=None):
        load_all()
        self.identity = identity
        self.defaults = copy.deepcopy(settings)
        self.settings = settings
        self.store = store
        self.quiet = quiet
        # Simulation and fault dice, not security: seedable so a demo can be replayed.
        self.rng = random.Random(seed)  # noqa: S311
        self.faults = Faults(self.rng)
        self.limiter = RateLimiter()
        self.callbacks = CallbackSender(self)
        self.public_url = "http://127.0.0.1:8100"
        self._stats_lock = threading.Lock()
        self.calls: Counter = Counter()
        self.gettoken_calls = 0
        self._data_fetch_in_flight = 0
        self.simulator = Simulator(self)  # started by the server

    # --- clock, logging, housekeeping -----------------------------------------------------------------

    def now(self) -> int:
        return int(time.time() + self.settings.clock_offset)

    def log_line(self, line: str) -> None:
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)

    def reset(self) -> None:
        """Forget every piece of state and return settings, faults, limits and counters to their start values."""
        self.store.clear()
        self.settings.update(self.defaults.as_dict())
        self.faults.clear()
        self.limiter.clear()
        with self._stats_lock:
            self.calls.clear()
            self.gettoken_calls = 0

    def invalidate_tokens(self) -> int:
        with self.store.tx() as db:
            return db.execute("UPDATE token SET revoked = 1 WHERE revoked = 0").rowcount

    def tick(self) -> None:
        """Due work (confirmations, transfers), run before every call and by the server's ticker."""
        with self.store.tx() as db:
            events = dispatch.process_due(self, db, self.now())
        for fields in events:
            self.callbacks.deliver_later(fields)

    def stats(self) -> dict:
        with self._stats_lock:
            return {"gettoken_calls": self.gettoken_calls, "calls": dict(sorted(self.calls.items()))}

    # --- one API call ---------------------------------------------------------------------------------

    def handle_api(self, method: str, name: str, query: dict, raw: bytes, content_type: str):
        """(HTTP status, JSON payload or raw bytes) for /cgi-bin/<name>."""
        endpoint = REGISTRY.get(name)
        with self._stats_lock:
            self.calls[name] += 1
            if name == "gettoken":
                self.gettoken_calls += 1
        if endpoint is None:
            message = f"the sandbox has no API /cgi-bin/{name} (see docs/wecom-sandbox.md)"
            return 404, {"errcode": 404, "errmsg": message}
        if endpoint.data_fetch:
            with self._stats_lock:
                self._data_fetch_in_flight += 1
                in_flight = self._data_fetch_in_flight
        try:
            cap = self.faults.concurrency_limit(name) if endpoint.data_fetch else None
            if cap is not None and in_flight > cap:
                return 200, ApiError(45033, f"more than {cap} concurrent calls").payload()
            interrupted = self.faults.before(name)
            if interrupted is not None:
                return interrupted
            return 200, self._serve(endpoint, method, name, query, raw, content_type)
        finally:
            if endpoint.data_fetch:
                with self._stats_lock:
                    self._data_fetch_in_flight -= 1

    def _serve(self, endpoint, method, name, query, raw, content_type) -> dict:
        try:
            if endpoint.method == "POST" and method != "POST":
                raise ApiError(43002)
            body = _json_body(raw, content_type)
            self.tick()
            with self.store.tx() as db:
                now = self.now()
                if endpoint.needs_token:
                    _check_token(db, query.get("access_token", ""), now)
                self.limiter.hit(
                    name, now, per_minute=self.settings.api_rate_per_minute, per_hour=self.settings.api_rate_per_hour
                )
                call = Call(self, name, query, body, raw, content_type, now, db)
                result = endpoint.func(call) or {}
        except ApiError as error:
            return error.payload()
        for work in call.after_commit:
            work()
        return {"errcode": 0, "errmsg": "ok", **result}


def _json_body(raw: bytes, content_type: str) -> dict:
    if not raw.strip() or content_type.startswith("multipart/"):
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(47001, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(47001, "the body must be a JSON object")
    return body


def _check_token(db, token: str, now: int) -> None:
    if not token:
        raise ApiError(41001)
    row = one(db, "SELECT expires, revoked FROM token WHERE token = ? AND kind = 'access'", (token,))
    if row is None or row["revoked"]:
        raise ApiError(40014)
    if row["expires"] <= now:
        raise ApiError(42001)
