"""Customers and members going about their day: a background thread that changes the state and posts callbacks.

Every `simulate_interval` seconds (±50 %), while `simulate` is on: a new customer adds a member (45 %, often
through an existing 「联系我」 code, so `state` is set, with a welcome code), a half-added contact (5 %), a
member edits a remark or tags a customer (15 %), a member deletes a customer (10 %), a customer deletes the
member (10 %), an admin adds one of a few member tags (15 %; each once, in the group 客户经理标签).
"""

import json
import logging
import threading
from typing import TYPE_CHECKING

from integrations.wecom_sandbox import names
from integrations.wecom_sandbox.events import apply_event
from integrations.wecom_sandbox.state import one

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp

log = logging.getLogger("wecom_sandbox")


class Simulator(threading.Thread):
    def __init__(self, app: "SandboxApp"):
        super().__init__(name="wecom-sandbox-simulator", daemon=True)
        self.app = app
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        while not self._halt.wait(self.app.settings.simulate_interval * self.app.rng.uniform(0.5, 1.5)):
            if not self.app.settings.simulate:
                continue
            try:
                self.step()
            except Exception:  # the simulator must keep going whatever one step ran into
                log.exception("simulator step failed")

    def step(self) -> dict | None:
        """One thing happens; its callback is delivered before the next. Returns the callback fields."""
        app = self.app
        with app.store.tx() as db:
            spec = self._choose(db)
            if spec is None:
                return None
            fields = apply_event(app, db, spec, app.now())
        app.callbacks.deliver(fields)
        return fields

    def _random_row(self, db, table: str, where: str = "1"):
        count = db.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()[0]
        if not count:
            return None
        return one(db, f"SELECT * FROM {table} WHERE {where} LIMIT 1 OFFSET ?", (self.app.rng.randrange(count),))

    def _choose(self, db) -> dict | None:
        rng = self.app.rng
        member = self._random_row(db, "member", "status = 1")
        if member is None:
            return None
        follow = self._random_row(db, "follow", "userid IN (SELECT userid FROM member WHERE status = 1)")
        roll = rng.random()
        if follow is None or roll < 0.50:
            spec = {"change_type": "add_external_contact" if roll < 0.45 else "add_half_external_contact"}
            spec["userid"] = member["userid"]
            way = self._random_row(db, "contact_way") if rng.random() < 0.6 else None
            if way is not None:
                config = json.loads(way["body"])
                spec["state"] = config.get("state", "")
                if config.get("user"):
                    spec["userid"] = rng.choice(config["user"])
            return spec
        pair = {"userid": follow["userid"], "external_userid": follow["external_userid"]}
        if roll < 0.65:
            spec = {"change_type": "edit_external_contact", **pair}
            tag = self._random_row(db, "tag", "deleted = 0")
            if tag is not None and rng.random() < 0.5:
                spec["add_tag"] = [tag["id"]]
            else:
                contact = one(db, "SELECT name FROM contact WHERE external_userid = ?", (follow["external_userid"],))
                spec["remark"] = names.remark(rng, contact["name"] if contact else "客户")
                spec["description"] = names.description(rng)
            return spec
        if roll < 0.75:
            return {"change_type": "del_external_contact", **pair}
        if roll < 0.85:
            return {"change_type": "del_follow_user", **pair}
        return self._new_corp_tag(db) or {"change_type": "del_follow_user", **pair}

    def _new_corp_tag(self, db) -> dict | None:
        """An admin adds one of the member tags not yet in the corp, in its group; None once all exist."""
        taken = {row[0] for row in db.execute("SELECT name FROM tag WHERE deleted = 0")}
        free = [name for name in names.MEMBER_TAGS if name not in taken]
        if not free:
            return None
        spec = {"event": "change_external_tag", "change_type": "create", "tag_name": self.app.rng.choice(free)}
        group = one(db, "SELECT group_id FROM tag_group WHERE deleted = 0 AND name = ?", (names.MEMBER_TAG_GROUP,))
        if group is None:
            spec["group_name"] = names.MEMBER_TAG_GROUP
        else:
            spec["group_id"] = group["group_id"]
        return spec
