"""The sandbox's own state: one SQLite file (WAL), one connection guarded by one lock.

Every request runs inside `store.tx()`: the lock is held for the whole transaction, so handlers read and write
without races; slow things (faults' sleeps, callback deliveries) happen outside it.
"""

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS department (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, name_en TEXT NOT NULL DEFAULT '',
    parentid INTEGER NOT NULL DEFAULT 0, "order" INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS member (
    userid TEXT PRIMARY KEY, name TEXT NOT NULL, department TEXT NOT NULL DEFAULT '[]',
    main_department INTEGER NOT NULL DEFAULT 0, position TEXT NOT NULL DEFAULT '', mobile TEXT NOT NULL DEFAULT '',
    gender TEXT NOT NULL DEFAULT '0', email TEXT NOT NULL DEFAULT '', status INTEGER NOT NULL DEFAULT 1,
    dimission_time INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS contact (
    external_userid TEXT PRIMARY KEY, name TEXT NOT NULL, type INTEGER NOT NULL DEFAULT 1,
    gender INTEGER NOT NULL DEFAULT 0, unionid TEXT NOT NULL DEFAULT '', avatar TEXT NOT NULL DEFAULT '',
    corp_name TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS follow (
    userid TEXT NOT NULL, external_userid TEXT NOT NULL, remark TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '', remark_corp_name TEXT NOT NULL DEFAULT '',
    remark_mobiles TEXT NOT NULL DEFAULT '[]', createtime INTEGER NOT NULL, add_way INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT '', oper_userid TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (userid, external_userid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS follow_by_contact ON follow (external_userid, createtime);
CREATE TABLE IF NOT EXISTS follow_tag (
    userid TEXT NOT NULL, external_userid TEXT NOT NULL, tag_id TEXT NOT NULL,
    PRIMARY KEY (userid, external_userid, tag_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS follow_tag_by_tag ON follow_tag (tag_id);
CREATE TABLE IF NOT EXISTS tag_group (
    group_id TEXT PRIMARY KEY, name TEXT NOT NULL, create_time INTEGER NOT NULL,
    "order" INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tag (
    id TEXT PRIMARY KEY, group_id TEXT NOT NULL, name TEXT NOT NULL, create_time INTEGER NOT NULL,
    "order" INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS tag_by_group ON tag (group_id);
CREATE TABLE IF NOT EXISTS token (
    token TEXT PRIMARY KEY, kind TEXT NOT NULL, issued INTEGER NOT NULL, expires INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS oauth_code (
    code TEXT PRIMARY KEY, userid TEXT NOT NULL, issued INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS oauth_visitor (
    code TEXT PRIMARY KEY, openid TEXT NOT NULL, external_userid TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS contact_way (config_id TEXT PRIMARY KEY, create_time INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS welcome_code (
    code TEXT PRIMARY KEY, userid TEXT NOT NULL, external_userid TEXT NOT NULL, issued INTEGER NOT NULL,
    used_at INTEGER);
CREATE TABLE IF NOT EXISTS welcome_message (
    id INTEGER PRIMARY KEY, code TEXT NOT NULL, userid TEXT NOT NULL, external_userid TEXT NOT NULL,
    sent_at INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS groupmsg (
    msgid TEXT PRIMARY KEY, chat_type TEXT NOT NULL, create_time INTEGER NOT NULL, body TEXT NOT NULL,
    fail_list TEXT NOT NULL DEFAULT '[]', cancelled_at INTEGER, reminds TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS groupmsg_task (
    msgid TEXT NOT NULL, userid TEXT NOT NULL, status INTEGER NOT NULL DEFAULT 0, confirm_due INTEGER,
    send_time INTEGER, skipped INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (msgid, userid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS groupmsg_task_due ON groupmsg_task (status, confirm_due);
CREATE TABLE IF NOT EXISTS groupmsg_result (
    msgid TEXT NOT NULL, userid TEXT NOT NULL, external_userid TEXT NOT NULL, status INTEGER NOT NULL DEFAULT 0,
    send_time INTEGER, PRIMARY KEY (msgid, userid, external_userid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS groupmsg_result_sent ON groupmsg_result (external_userid, status, send_time);
CREATE TABLE IF NOT EXISTS app_message (
    msgid TEXT PRIMARY KEY, sent_at INTEGER NOT NULL, msgtype TEXT NOT NULL, body TEXT NOT NULL,
    content_hash TEXT NOT NULL, invaliduser TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS app_message_hash ON app_message (content_hash, sent_at);
CREATE TABLE IF NOT EXISTS app_delivery (
    msgid TEXT NOT NULL, userid TEXT NOT NULL, at INTEGER NOT NULL, outcome TEXT NOT NULL,
    PRIMARY KEY (msgid, userid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS app_delivery_by_user ON app_delivery (userid, at);
CREATE TABLE IF NOT EXISTS media (
    media_id TEXT PRIMARY KEY, type TEXT NOT NULL, filename TEXT NOT NULL, content_type TEXT NOT NULL,
    size INTEGER NOT NULL, created_at INTEGER NOT NULL, data BLOB NOT NULL, via TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transfer (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, handover TEXT NOT NULL, takeover TEXT NOT NULL,
    external_userid TEXT NOT NULL, status INTEGER NOT NULL, created INTEGER NOT NULL, due INTEGER NOT NULL,
    takeover_time INTEGER, success_msg TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS transfer_due ON transfer (status, due);
CREATE INDEX IF NOT EXISTS transfer_by_contact ON transfer (external_userid, created);
CREATE INDEX IF NOT EXISTS transfer_by_pair ON transfer (kind, handover, takeover, external_userid);
CREATE TABLE IF NOT EXISTS chat_context (
    id TEXT PRIMARY KEY, userid TEXT NOT NULL, external_userid TEXT NOT NULL, opened INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jssdk_config (
    token TEXT PRIMARY KEY, chat_id TEXT NOT NULL DEFAULT '', url TEXT NOT NULL, apis TEXT NOT NULL,
    issued INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS chat_message (
    id INTEGER PRIMARY KEY, sent_at INTEGER NOT NULL, userid TEXT NOT NULL, external_userid TEXT NOT NULL,
    msgtype TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS callback (
    id INTEGER PRIMARY KEY, created INTEGER NOT NULL, event TEXT NOT NULL, change_type TEXT NOT NULL,
    userid TEXT NOT NULL DEFAULT '', external_userid TEXT NOT NULL DEFAULT '', xml TEXT NOT NULL,
    url TEXT NOT NULL, attempts TEXT NOT NULL DEFAULT '[]', delivered INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '');
"""

DATA_TABLES = [
    "meta", "department", "member", "contact", "follow", "follow_tag", "tag_group", "tag", "token", "oauth_code",
    "oauth_visitor", "contact_way", "welcome_code", "welcome_message", "groupmsg", "groupmsg_task", "groupmsg_result",
    "app_message", "app_delivery", "media", "transfer", "callback",
    "chat_context", "jssdk_config", "chat_message",  # the WeCom client's side: chats opened, JS-SDK use
]  # fmt: skip
# The corp itself, which a seed replaces (tokens, messages and history stay).
CORP_TABLES = ["department", "member", "contact", "follow", "follow_tag", "tag_group", "tag", "contact_way"]


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._depth = 0
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """The lock and one transaction (nested calls join the outer one); rolled back on any exception."""
        with self.lock:
            outer = self._depth == 0
            if outer:
                self.db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self.db
            except BaseException:
                self._depth -= 1
                if outer:
                    self.db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self.db.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def is_empty(self) -> bool:
        with self.tx() as db:
            return not any(db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() for table in DATA_TABLES)

    def clear(self, tables: list[str] = DATA_TABLES) -> None:
        with self.tx() as db:
            for table in tables:
                db.execute(f"DELETE FROM {table}")

    def get_meta(self, key: str, default=None):
        with self.tx() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def set_meta(self, key: str, value) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def counts(self, now: int) -> dict:
        with self.tx() as db:

            def count(sql: str, *params) -> int:
                return db.execute(sql, params).fetchone()[0]

            return {
                "departments": count("SELECT COUNT(*) FROM department"),
                "members": count("SELECT COUNT(*) FROM member"),
                "active_members": count("SELECT COUNT(*) FROM member WHERE status = 1"),
                "contacts": count("SELECT COUNT(*) FROM contact"),
                "follows": count("SELECT COUNT(*) FROM follow"),
                "tag_groups": count("SELECT COUNT(*) FROM tag_group WHERE deleted = 0"),
                "tags": count("SELECT COUNT(*) FROM tag WHERE deleted = 0"),
                "contact_ways": count("SELECT COUNT(*) FROM contact_way"),
                "tokens_issued": count("SELECT COUNT(*) FROM token WHERE kind = 'access'"),
                "tokens_valid": count(
                    "SELECT COUNT(*) FROM token WHERE kind = 'access' AND revoked = 0 AND expires > ?", now
                ),
                "groupmsgs": count("SELECT COUNT(*) FROM groupmsg"),
                "groupmsg_tasks_pending": count("SELECT COUNT(*) FROM groupmsg_task WHERE status = 0 AND skipped = 0"),
                "app_messages": count("SELECT COUNT(*) FROM app_message"),
                "welcome_messages": count("SELECT COUNT(*) FROM welcome_message"),
                "media": count("SELECT COUNT(*) FROM media"),
                "transfers_waiting": count("SELECT COUNT(*) FROM transfer WHERE status = 2"),
                "callbacks": count("SELECT COUNT(*) FROM callback"),
            }


def rows(db: sqlite3.Connection, sql: str, params=()) -> list[sqlite3.Row]:
    return db.execute(sql, params).fetchall()


def one(db: sqlite3.Connection, sql: str, params=()) -> sqlite3.Row | None:
    return db.execute(sql, params).fetchone()


def placeholders(values) -> str:
    return ",".join("?" * len(values))


def chunks(values: list, size: int = 500) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
