"""The WeCom sandbox for tests: a real `manage.py wecom_sandbox` subprocess on a free port, driven over HTTP.

Other test modules rely on this API; keep it stable.

    start_sandbox(**options) -> Sandbox
        Starts `python manage.py wecom_sandbox --port 0 --state <temp file> --no-simulate --no-workbench` with
        DJANGO_SETTINGS_MODULE=tests.settings and waits until it answers. Every keyword is a command option by
        its Python name (confirm_delay=0.5, quota_mode="1_per_day", transfer_delay=0, seed=7 ...); True adds a
        bare flag, False/None leaves it out. Besides:
            state=path            reuse (or keep) this state file instead of a fresh temporary one
            from_workbench=True   load the corp from the workbench database (drops --no-workbench)
            database_url="..."    DATABASE_URL of the subprocess (the test database, for from_workbench)
        The identity defaults to CORP_ID, SECRET, AGENT_ID, CALLBACK_TOKEN, CALLBACK_AES_KEY below (the values
        of tests/settings.py), the callback URL to "" (no callbacks until a test sets one).

    Sandbox
        .url        "http://127.0.0.1:PORT"             .base_url   .url + "/cgi-bin/" (WECOM_API_BASE_URL)
        .port  .corp_id  .secret  .agent_id  .token  .aes_key  .state_path  .log_path (the server's stderr)
        .stop()  .restart()                              stop; start again on the same port and state file
        control API (each returns the decoded JSON answer and raises on HTTP errors):
        .state()                  counts, gettoken_calls, calls per API, settings, faults
        .reset()                  forget everything; settings and faults back to the start values
        .seed(payload)            replace the corp: {"departments", "members", "contacts", "follows", "tags",
                                  "contact_ways"} (docs/wecom-sandbox.md has the shapes)
        .faults(**kw)  .clear_faults()                   e.g. faults(error_rate=1.0, path_prefix="externalcontact/")
        .event(**kw)              one client-side event now, callback posted synchronously, e.g.
                                  event(change_type="add_external_contact", userid="zhangsan", state="qr1")
        .settings(**kw)           e.g. settings(clock_offset=21, confirm_delay=-1, callback_url="http://...");
                                  changing clock_offset also drops the cached access token
        .received()               mass messages, app messages, welcome messages, media, transfers
        .callbacks()              recent callback deliveries with their attempts
        .confirm(msgid, **kw)     members confirm pending tasks now (userid=..., skip=True)
        .complete_transfers()     every waiting transfer completes now
        and for calling the API directly:
        .access_token()           a valid token (cached; refetched after reset/restart)
        .api(name, data=None, **params)   GET (data None) or POST JSON to /cgi-bin/<name> with the token
        .crypto()                 wechatpy WeChatCrypto for this corp (to decrypt callbacks)

Fixtures (import both into conftest.py):
    wecom_sandbox   session scope: one sandbox per test process (per xdist worker)
    sandbox         function scope: wecom_sandbox, reset, and the Django settings WECOM_API_BASE_URL,
                    WECOM_CORP_ID, WECOM_SECRET, WECOM_AGENT_ID, WECOM_CALLBACK_TOKEN, WECOM_CALLBACK_AES_KEY
                    pointed at it for the test (pytest-django's `settings` fixture)
"""

import atexit
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
CORP_ID = "wwtestcorp"
SECRET = "test-secret"
AGENT_ID = 1000002
CALLBACK_TOKEN = "testCallbackToken2026"
CALLBACK_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
START_TIMEOUT = 30.0


class SandboxError(RuntimeError):
    pass


class Sandbox:
    def __init__(self, args: list[str], env: dict, *, state_path: Path, log_path: Path, identity: dict):
        self._args = args
        self._env = env
        self.state_path = state_path
        self.log_path = log_path
        self.corp_id = identity["corp_id"]
        self.secret = identity["secret"]
        self.agent_id = identity["agent_id"]
        self.token = identity["token"]
        self.aes_key = identity["aes_key"]
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.http = requests.Session()
        self._token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/cgi-bin/"

    # --- process ----------------------------------------------------------------------------------------

    def _start(self, port: int = 0) -> None:
        args = [*self._args, "--port", str(port)]
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
        self.process = subprocess.Popen(  # noqa: S603 - our own manage.py with our own arguments
            args, cwd=ROOT, env=self._env, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while b"listening on" not in line:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                self.stop()
                raise SandboxError(f"the WeCom sandbox did not start; its log:\n{self.log_path.read_text()[-3000:]}")
            ready, _, _ = select.select([self.process.stdout], [], [], remaining)
            if ready:
                line = self.process.stdout.readline()
        self.port = int(line.split(b"127.0.0.1:")[1].split(b"/")[0])
        # Nothing else should come on stdout, but never let a full pipe block the server.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        self.http.get(f"{self.url}/sandbox/api/state", timeout=5).raise_for_status()
        self._token = None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        port = self.port
        self.stop()
        self._start(port)

    # --- control API ------------------------------------------------------------------------------------

    def _control(self, method: str, path: str, payload=None, **params) -> dict:
        response = self.http.request(method, f"{self.url}/sandbox/api/{path}", json=payload, params=params, timeout=60)
        if response.status_code >= 400:
            raise SandboxError(f"{method} /sandbox/api/{path} → {response.status_code}: {response.text}")
        return response.json()

    def state(self) -> dict:
        return self._control("GET", "state")

    def reset(self) -> dict:
        self._token = None
        return self._control("POST", "reset")

    def seed(self, payload: dict) -> dict:
        return self._control("POST", "seed", payload)

    def faults(self, **kw) -> dict:
        return self._control("POST", "faults", kw)

    def clear_faults(self) -> dict:
        return self._control("DELETE", "faults")

    def event(self, **kw) -> dict:
        return self._control("POST", "events", kw)

    def settings(self, **kw) -> dict:
        if "clock_offset" in kw:
            self._token = None  # moving the clock may expire the cached token
        return self._control("POST", "settings", kw)

    def received(self) -> dict:
        return self._control("GET", "received")

    def callbacks(self) -> list[dict]:
        return self._control("GET", "callbacks")["callbacks"]

    def confirm(self, msgid: str, **kw) -> dict:
        return self._control("POST", f"groupmsg/{msgid}/confirm", kw)

    def complete_transfers(self) -> dict:
        return self._control("POST", "transfers/complete")

    # --- the WeCom API ----------------------------------------------------------------------------------

    def access_token(self) -> str:
        if self._token is None:
            answer = self.http.get(
                f"{self.base_url}gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}, timeout=10
            ).json()
            if answer.get("errcode"):
                raise SandboxError(f"gettoken failed: {answer}")
            self._token = answer["access_token"]
        return self._token

    def api(self, name: str, data: dict | None = None, **params) -> dict:
        params = {"access_token": self.access_token(), **params}
        if data is None:
            response = self.http.get(f"{self.base_url}{name}", params=params, timeout=30)
        else:
            response = self.http.post(f"{self.base_url}{name}", params=params, json=data, timeout=30)
        response.raise_for_status()
        return response.json()

    def crypto(self):
        from wechatpy.work.crypto import WeChatCrypto

        return WeChatCrypto(self.token, self.aes_key, self.corp_id)


def start_sandbox(**options) -> Sandbox:
    options = dict(options)
    state = options.pop("state", None)
    database_url = options.pop("database_url", None)
    workdir = Path(tempfile.mkdtemp(prefix="wecom-sandbox-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    state_path = Path(state) if state else workdir / "state.sqlite3"
    identity = {
        "corp_id": options.pop("corp_id", CORP_ID),
        "secret": options.pop("secret", SECRET),
        "agent_id": options.pop("agent_id", AGENT_ID),
        "token": options.pop("callback_token", CALLBACK_TOKEN),
        "aes_key": options.pop("callback_aes_key", CALLBACK_AES_KEY),
    }
    options.setdefault("callback_url", "")
    args = [sys.executable, "manage.py", "wecom_sandbox", "--state", str(state_path)]
    if not options.get("simulate"):
        args.append("--no-simulate")
    if not options.get("from_workbench"):
        args.append("--no-workbench")
    args += ["--corp-id", identity["corp_id"], "--secret", identity["secret"], "--agent-id", str(identity["agent_id"])]
    args += ["--callback-token", identity["token"], "--callback-aes-key", identity["aes_key"]]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value not in (None, False):
            args += [flag, str(value)]
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONUNBUFFERED": "1"}
    if database_url:
        env["DATABASE_URL"] = database_url
    sandbox = Sandbox(args, env, state_path=state_path, log_path=workdir / "sandbox.log", identity=identity)
    sandbox._start()
    return sandbox


@pytest.fixture(scope="session")
def wecom_sandbox():
    sandbox = start_sandbox()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(wecom_sandbox, settings):
    wecom_sandbox.reset()
    settings.WECOM_API_BASE_URL = wecom_sandbox.base_url
    settings.WECOM_CORP_ID = wecom_sandbox.corp_id
    settings.WECOM_SECRET = wecom_sandbox.secret
    settings.WECOM_AGENT_ID = wecom_sandbox.agent_id
    settings.WECOM_CALLBACK_TOKEN = wecom_sandbox.token
    settings.WECOM_CALLBACK_AES_KEY = wecom_sandbox.aes_key
    return wecom_sandbox
