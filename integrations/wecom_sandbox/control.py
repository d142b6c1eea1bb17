"""The control API under /sandbox/api/: JSON in and out, for tests and the demo operator (no auth; 127.0.0.1).

GET  state                      counts, call statistics, settings, faults
POST reset                      forget everything; settings and faults back to the start values
POST seed                       replace the corp by exactly this JSON (see docs/wecom-sandbox.md)
POST seed/workbench             replace the corp by a snapshot of the workbench database
GET|POST|DELETE faults          show / merge / clear injected faults
POST events                     make one thing happen now and post its callback (synchronously)
GET|POST settings               show / change run-time settings
POST groupmsg/<msgid>/confirm   members confirm (or, with {"skip": true}, ignore) pending tasks now
POST transfers/complete         complete every waiting transfer now
POST simulate/step              one simulator step now
GET  received                   mass messages, app messages, welcome messages, uploads, transfers
GET  callbacks                  recent callback deliveries with every attempt
POST callback/verify            the URL check WeCom makes when the callback URL is saved
"""

import http.client
import json
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from integrations.wecom_sandbox import crypto, dispatch, ids, received, seed
from integrations.wecom_sandbox.errors import ControlError
from integrations.wecom_sandbox.events import apply_event
from integrations.wecom_sandbox.state import one, rows

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp


def handle_control(app: "SandboxApp", method: str, path: str, query: dict, raw: bytes) -> tuple[int, dict]:
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError):
        return 400, {"error": "the body is not JSON"}
    if not isinstance(body, dict) and path != "seed":
        return 400, {"error": "the body must be a JSON object"}
    confirm = re.fullmatch(r"groupmsg/([^/]+)/confirm", path)
    try:
        if confirm and method == "POST":
            return confirm_groupmsg(app, confirm.group(1), body)
        handler = ROUTES.get((method, path))
        if handler is None:
            return 404, {"error": f"no control endpoint {method} /sandbox/api/{path}"}
        return handler(app, body, query)
    except ControlError as error:
        return 400, {"error": str(error)}


def state(app, body, query):
    now = app.now()
    data = app.store.counts(now) | app.stats()
    data |= {
        "corp_id": app.identity.corp_id,
        "agent_id": app.identity.agent_id,
        "now": now,
        "state_file": str(app.store.path),
        "seeded_from": app.store.get_meta("seeded_from", ""),
        "settings": app.settings.as_dict(),
        "faults": app.faults.as_dict(),
    }
    return 200, data


def reset(app, body, query):
    app.reset()
    return 200, {"ok": True}


def seed_json(app, body, query):
    return 200, {"ok": True, **seed.seed_json(app.store, body, app.now())}


def seed_workbench(app, body, query):
    return 200, {"ok": True, **seed.seed_workbench(app.store, app.now())}


def faults_get(app, body, query):
    return 200, app.faults.as_dict()


def faults_set(app, body, query):
    invalidated = app.invalidate_tokens() if app.faults.update(body) else 0
    return 200, app.faults.as_dict() | {"tokens_invalidated": invalidated}


def faults_clear(app, body, query):
    app.faults.clear()
    return 200, app.faults.as_dict()


def settings_get(app, body, query):
    return 200, app.settings.as_dict()


def settings_set(app, body, query):
    app.settings.update(body)
    return 200, app.settings.as_dict()


def event(app, body, query):
    with app.store.tx() as db:
        fields = apply_event(app, db, body, app.now())
    delivery = app.callbacks.deliver(fields)
    return 200, {
        "ok": True,
        "fields": fields,
        "external_userid": fields.get("ExternalUserID", ""),
        "welcome_code": fields.get("WelcomeCode", ""),
        "xml": delivery["xml"],
        "delivery": delivery,
    }


def confirm_groupmsg(app, msgid: str, body: dict):
    skip = body.get("skip", False)
    userid = body.get("userid")
    with app.store.tx() as db:
        if one(db, "SELECT 1 FROM groupmsg WHERE msgid = ?", (msgid,)) is None:
            return 404, {"error": f"no mass message {msgid}"}
        pending = [
            row["userid"]
            for row in rows(
                db, "SELECT userid FROM groupmsg_task WHERE msgid = ? AND status = 0 AND skipped = 0", (msgid,)
            )
            if userid in (None, row["userid"])
        ]
        now = app.now()
        outcome = {1: 0, 2: 0, 3: 0}
        for member in pending:
            if skip:
                db.execute("UPDATE groupmsg_task SET skipped = 1 WHERE msgid = ? AND userid = ?", (msgid, member))
            else:
                for status, count in dispatch.confirm_task(app, db, msgid, member, now).items():
                    outcome[status] += count
    key = "skipped" if skip else "confirmed"
    return 200, {key: pending, "sent": outcome[1], "not_friend": outcome[2], "over_quota": outcome[3]}


def transfers_complete(app, body, query):
    with app.store.tx() as db:
        waiting = db.execute("SELECT COUNT(*) FROM transfer WHERE status = 2").fetchone()[0]
        events = dispatch.process_due(app, db, app.now(), transfers_now=True)
    deliveries = [app.callbacks.deliver(fields) for fields in events]
    return 200, {"completed": waiting - len(events), "refused": len(events), "callbacks": deliveries}


def simulate_step(app, body, query):
    fields = app.simulator.step()
    return 200, {"ok": fields is not None, "fields": fields}


def received_get(app, body, query):
    return 200, received.everything(app, limit=int(query.get("limit", 100)))


def callbacks_get(app, body, query):
    return 200, {"callbacks": received.callbacks(app, limit=int(query.get("limit", 50)))}


def callback_verify(app, body, query):
    """GET the callback URL with an encrypted echostr; it must answer the decrypted text."""
    identity, url = app.identity, app.settings.callback_url
    if not (url and identity.callback_token and identity.callback_aes_key):
        raise ControlError("callbacks are not configured")
    plain, nonce, timestamp = ids.nonce() + ids.nonce(), ids.nonce(), str(app.now())
    echostr, signature = crypto.echo(
        token=identity.callback_token, aes_key=identity.callback_aes_key, corp_id=identity.corp_id,
        text=plain, nonce=nonce, timestamp=timestamp,
    )  # fmt: skip
    query_string = urlencode({"msg_signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr})
    parts = urlsplit(url)
    started = time.monotonic()
    try:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=app.settings.callback_timeout)
        connection.request("GET", f"{parts.path or '/'}?{parts.query + '&' if parts.query else ''}{query_string}")
        response = connection.getresponse()
        answer, status = response.read().decode("utf-8", "replace"), response.status
        connection.close()
    except (OSError, http.client.HTTPException) as exc:
        return 200, {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    elapsed = round((time.monotonic() - started) * 1000)
    return 200, {"ok": status == 200 and answer == plain, "status": status, "answer": answer[:200], "ms": elapsed}


ROUTES = {
    ("GET", "state"): state,
    ("POST", "reset"): reset,
    ("POST", "seed"): seed_json,
    ("POST", "seed/workbench"): seed_workbench,
    ("GET", "faults"): faults_get,
    ("POST", "faults"): faults_set,
    ("DELETE", "faults"): faults_clear,
    ("GET", "settings"): settings_get,
    ("POST", "settings"): settings_set,
    ("POST", "events"): event,
    ("POST", "transfers/complete"): transfers_complete,
    ("POST", "simulate/step"): simulate_step,
    ("GET", "received"): received_get,
    ("GET", "callbacks"): callbacks_get,
    ("POST", "callback/verify"): callback_verify,
}
