"""Delivering callbacks: POST the encrypted event to the callback URL, WeCom's way.

An attempt succeeds when the answer is HTTP 200 within the timeout (5 s at WeCom); otherwise the sandbox
tries again after a short pause, `callback_attempts` (3) in all. Every attempt is recorded in the `callback`
table and shown on the sandbox page and by `GET /sandbox/api/callbacks`.
"""

import http.client
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from integrations.wecom_sandbox import crypto, ids

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp

log = logging.getLogger("wecom_sandbox")


class CallbackSender:
    def __init__(self, app: "SandboxApp"):
        self.app = app
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="wecom-sandbox-callback")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def deliver_later(self, fields: dict) -> None:
        self._pool.submit(self._deliver_logged, fields)

    def _deliver_logged(self, fields: dict) -> None:
        try:
            self.deliver(fields)
        except Exception:  # a background delivery must never kill the pool's thread silently
            log.exception("callback delivery failed")

    def deliver(self, fields: dict) -> dict:
        """Post one event now (blocking through every retry) and record it; returns what happened."""
        app = self.app
        identity, settings = app.identity, app.settings
        created = app.now()
        xml = crypto.event_xml(corp_id=identity.corp_id, create_time=created, fields=fields)
        url = settings.callback_url
        record = {"xml": xml, "url": url, "attempts": [], "delivered": False, "note": ""}
        if not (url and identity.callback_token and identity.callback_aes_key):
            record["note"] = "callbacks are not configured (callback URL, token and AES key are all needed)"
        else:
            timestamp, nonce = str(created), ids.nonce()
            body, signature = crypto.encrypt(
                token=identity.callback_token,
                aes_key=identity.callback_aes_key,
                corp_id=identity.corp_id,
                agent_id=identity.agent_id,
                xml=xml,
                nonce=nonce,
                timestamp=timestamp,
            )
            query = urlencode({"msg_signature": signature, "timestamp": timestamp, "nonce": nonce})
            target = f"{url}{'&' if '?' in url else '?'}{query}"
            record.update(target=target, body=body)
            for attempt in range(1, settings.callback_attempts + 1):
                result = _post(target, body, timeout=settings.callback_timeout)
                result["attempt"] = attempt
                record["attempts"].append(result)
                if result["status"] == 200:
                    record["delivered"] = True
                    break
                if attempt < settings.callback_attempts:
                    time.sleep(settings.callback_retry_pause)
        with app.store.tx() as db:
            cursor = db.execute(
                "INSERT INTO callback (created, event, change_type, userid, external_userid, xml, url, attempts,"
                " delivered, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    created,
                    fields.get("Event", ""),
                    fields.get("ChangeType", ""),
                    fields.get("UserID", ""),
                    fields.get("ExternalUserID", ""),
                    xml,
                    url,
                    json.dumps(record["attempts"]),
                    int(record["delivered"]),
                    record["note"],
                ),
            )
            record["id"] = cursor.lastrowid
        app.log_line(
            f"callback {fields.get('Event')}/{fields.get('ChangeType', '')} → "
            f"{'delivered' if record['delivered'] else 'NOT delivered'} ({len(record['attempts'])} attempts)"
        )
        return record


def _post(target: str, body: str, *, timeout: float) -> dict:
    parts = urlsplit(target)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    started = time.monotonic()
    result = {"at": time.time(), "status": None, "error": "", "ms": 0}
    try:
        connection = connection_class(parts.hostname, parts.port, timeout=timeout)
        try:
            path = parts.path or "/"
            connection.request(
                "POST",
                f"{path}?{parts.query}",
                body=body.encode(),
                headers={"Content-Type": "text/xml; charset=utf-8", "User-Agent": "WeCom-Sandbox"},
            )
            response = connection.getresponse()
            response.read()
            result["status"] = response.status
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    result["ms"] = round((time.monotonic() - started) * 1000)
    return result
