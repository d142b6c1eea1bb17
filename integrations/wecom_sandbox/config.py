"""What the sandbox is (the corp's identity, fixed at start) and how it behaves (settings, changeable at run time)."""

import dataclasses
from dataclasses import dataclass

from integrations.wecom_sandbox.errors import ControlError

QUOTA_MODES = ("monthly", "7_per_week", "1_per_day")


@dataclass(frozen=True)
class Identity:
    corp_id: str
    secret: str
    agent_id: int
    callback_token: str
    callback_aes_key: str


@dataclass
class Settings:
    """Every knob of the control API's `POST settings`; `reset` returns to the values the process started with."""

    callback_url: str = "http://127.0.0.1:8000/wecom/callback/"
    # The chat sidebar (聊天工具栏) page configured for the app in the console: the sandbox opens it for a chat, signs
    # the member in silently when it asks for OAuth, and trusts its origin for the JS-SDK (WeCom's 可信域名).
    sidebar_url: str = "http://127.0.0.1:8000/sidebar/"
    # Per-customer mass-message quota: as many per month as the month has days (default), 7 a week or 1 a day.
    quota_mode: str = "monthly"
    # Seconds until a member "confirms" a mass-message task in the WeCom client; negative: only by hand.
    confirm_delay: float = 5.0
    # Share of members who are slow: they confirm after `slow_confirm_delay` seconds instead, so the workbench's
    # reminders (remind_groupmsg_send and its app-message card) have someone to remind. Chosen per member, stably.
    slow_confirm_share: float = 0.0
    slow_confirm_delay: float = 7200.0
    # Seconds a mass message spends being dispatched after creation and after confirmation (41063 meanwhile).
    dispatch_seconds: float = 2.0
    # Seconds until a customer transfer completes (24 h at WeCom).
    transfer_delay: float = 60.0
    # Share of on-the-job transfers the customer refuses (status 3 and a transfer_fail callback).
    transfer_refuse_rate: float = 0.0
    api_rate_per_minute: int = 10_000
    api_rate_per_hour: int = 150_000
    app_msg_per_minute: int = 30
    app_msg_per_hour: int = 1000
    max_corp_tags: int = 3000
    token_ttl: int = 7200
    # Seconds added to the wall clock: tests move time instead of sleeping.
    clock_offset: float = 0.0
    callback_timeout: float = 5.0
    callback_attempts: int = 3
    callback_retry_pause: float = 1.0
    simulate: bool = False
    simulate_interval: float = 20.0

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def update(self, values: dict) -> None:
        """Apply a partial update, checking names, types and ranges first so a bad request changes nothing."""
        known = {f.name: f for f in dataclasses.fields(self)}
        checked = {}
        for name, value in values.items():
            if name not in known:
                raise ControlError(f"unknown setting {name!r}; known: {', '.join(sorted(known))}")
            checked[name] = _coerce(name, value, type(getattr(self, name)))
        for name, value in checked.items():
            setattr(self, name, value)


_MINIMUM = {
    "dispatch_seconds": 0,
    "transfer_delay": 0,
    "api_rate_per_minute": 1,
    "api_rate_per_hour": 1,
    "app_msg_per_minute": 1,
    "app_msg_per_hour": 1,
    "max_corp_tags": 1,
    "token_ttl": 1,
    "callback_timeout": 0.01,
    "callback_attempts": 1,
    "callback_retry_pause": 0,
    "simulate_interval": 0.05,
    "slow_confirm_delay": 0,
}


def _coerce(name: str, value, kind: type):
    if kind is bool:
        if not isinstance(value, bool):
            raise ControlError(f"{name} must be true or false")
        return value
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ControlError(f"{name} must be a number")
        if kind is int and value != int(value):
            raise ControlError(f"{name} must be a whole number")
        value = kind(value)
        if name in _MINIMUM and value < _MINIMUM[name]:
            raise ControlError(f"{name} must be at least {_MINIMUM[name]}")
        if name in ("transfer_refuse_rate", "slow_confirm_share") and not 0 <= value <= 1:
            raise ControlError(f"{name} must be between 0 and 1")
        return value
    if not isinstance(value, str):
        raise ControlError(f"{name} must be a string")
    if name == "quota_mode" and value not in QUOTA_MODES:
        raise ControlError(f"quota_mode must be one of {', '.join(QUOTA_MODES)}")
    if name == "sidebar_url" and not value.startswith(("http://", "https://")):
        raise ControlError("sidebar_url must be an http(s) URL")
    if name == "callback_url" and value and not value.startswith(("http://", "https://")):
        raise ControlError("callback_url must be an http(s) URL or empty (no callbacks)")
    return value
