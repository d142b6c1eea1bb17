"""The WeCom API under /cgi-bin/: a registry of endpoints and the request they see.

An endpoint is a function `(call: Call) -> dict`; the dict is merged into {"errcode": 0, "errmsg": "ok"}. It
raises ApiError for WeCom's error answers. `data_fetch` marks the APIs WeCom caps by concurrency (45033).
"""

import importlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from integrations.wecom_sandbox.errors import ApiError

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp


@dataclass(frozen=True)
class Endpoint:
    name: str
    func: Callable
    method: str
    needs_token: bool
    data_fetch: bool


REGISTRY: dict[str, Endpoint] = {}


def api(name: str, method: str = "POST", *, needs_token: bool = True, data_fetch: bool = False):
    def register(func):
        REGISTRY[name] = Endpoint(name, func, method, needs_token, data_fetch)
        return func

    return register


@dataclass
class Call:
    app: "SandboxApp"
    name: str
    query: dict
    body: dict
    raw: bytes
    content_type: str
    now: int
    db: sqlite3.Connection
    # Work to run once the transaction has committed (callback deliveries).
    after_commit: list = field(default_factory=list)

    def arg(self, key: str, default=None):
        """A GET endpoint's query parameter, or a POST endpoint's body field."""
        if key in self.body:
            return self.body[key]
        return self.query.get(key, default)


def text(call: Call, key: str, *, required: bool = False, max_chars: int | None = None, errcode: int = 40058) -> str:
    value = call.arg(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ApiError(40058, f"{key} must be a string")
    if required and not value:
        raise ApiError(40063, f"{key} is required")
    if max_chars is not None and len(value) > max_chars:
        raise ApiError(errcode, f"{key} exceeds {max_chars} characters")
    return value


def str_list(call: Call, key: str, *, max_items: int | None = None, errcode: int = 40058) -> list[str]:
    value = call.arg(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(40058, f"{key} must be a list of strings")
    if max_items is not None and len(value) > max_items:
        raise ApiError(errcode, f"{key} exceeds max length {max_items}")
    return list(dict.fromkeys(value))


def integer(call: Call, key: str, default: int | None = None, *, required: bool = False) -> int | None:
    value = call.arg(key)
    if value in (None, ""):
        if required:
            raise ApiError(40063, f"{key} is required")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(40058, f"{key} must be an integer") from None


def limit(call: Call, *, default: int, maximum: int) -> int:
    """WeCom's page size: missing or non-positive takes the default, above the maximum takes the maximum."""
    value = integer(call, "limit", default) or default
    return default if value <= 0 else min(value, maximum)


def byte_len(value: str) -> int:
    return len(value.encode("utf-8"))


def page(items: list, size: int) -> tuple[list, bool]:
    """The first `size` of `items` (fetched as size + 1) and whether more follow."""
    return items[:size], len(items) > size


def load_all() -> None:
    for module in ("auth", "org", "contacts", "tags", "groupmsg", "groupmsg_query", "contact_way", "behavior"):
        importlib.import_module(f"integrations.wecom_sandbox.endpoints.{module}")
    for module in ("transfer", "message", "media"):
        importlib.import_module(f"integrations.wecom_sandbox.endpoints.{module}")
