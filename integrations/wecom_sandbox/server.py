"""The HTTP server: stdlib ThreadingHTTPServer on 127.0.0.1; one log line per request on stderr.

/cgi-bin/...            the WeCom API (JSON, HTTP 200 with an errcode, like WeCom)
/sandbox/api/...        the control API (control.py)
/sandbox/, /connect/... pages (site.py)
"""

import contextlib
import json
import logging
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from integrations.wecom_sandbox import client_side, site
from integrations.wecom_sandbox.control import handle_control
from integrations.wecom_sandbox.core import SandboxApp

log = logging.getLogger("wecom_sandbox")
TICK_SECONDS = 1.0


class Handler(BaseHTTPRequestHandler):
    server_version = "WeComSandbox/1.0"
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm meets the client's delayed ACK
        # and every keep-alive request waits ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def app(self) -> SandboxApp:
        return self.server.app

    def do_GET(self):  # noqa: N802 - the name http.server dispatches to
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")

    def do_DELETE(self):  # noqa: N802
        self._handle("DELETE")

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature; our own line replaces it
        pass

    def _handle(self, method: str) -> None:
        started = time.monotonic()
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._send_json(400, {"error": "bad Content-Length"})
            return
        raw = self.rfile.read(length) if length > 0 else b""
        content_type = self.headers.get("Content-Type", "")
        outcome = ""
        try:
            if parts.path.startswith("/cgi-bin/"):
                status, payload = self.app.handle_api(
                    method, parts.path.removeprefix("/cgi-bin/"), query, raw, content_type
                )
                outcome = payload.get("errcode", "") if isinstance(payload, dict) else f"HTTP {status}"
                self._send_json(status, payload)
            elif parts.path.startswith("/sandbox/api/"):
                status, payload = handle_control(
                    self.app, method, parts.path.removeprefix("/sandbox/api/").strip("/"), query, raw
                )
                outcome = f"HTTP {status}"
                self._send_json(status, payload)
            elif client_side.handles(parts.path):  # the WeCom client: chats, silent OAuth, the JS-SDK
                status, headers, body = client_side.handle(self.app, method, parts.path, query, raw, self.headers)
                outcome = f"HTTP {status}"
                self._send(status, headers, body)
            else:
                status, headers, body = site.handle_page(self.app, method, parts.path, query, raw)
                outcome = f"HTTP {status}"
                self._send(status, headers, body)
        except (BrokenPipeError, ConnectionResetError):
            outcome = "client went away"
        except Exception as exc:  # a sandbox bug: answer 500 with the reason rather than hang up
            traceback.print_exc()
            outcome = f"HTTP 500 {type(exc).__name__}"
            with contextlib.suppress(OSError):
                self._send_json(500, {"errcode": -1, "errmsg": f"sandbox internal error: {type(exc).__name__}: {exc}"})
        elapsed = round((time.monotonic() - started) * 1000)
        self.app.log_line(f"{method} {parts.path} {outcome} {elapsed}ms")

    def _send_json(self, status: int, payload) -> None:
        if isinstance(payload, bytes):
            self._send(status, {"Content-Type": "text/html; charset=utf-8"}, payload)
            return
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, {"Content-Type": "application/json; charset=UTF-8"}, body)

    def _send(self, status: int, headers: dict, body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app: SandboxApp, port: int):
        self.app = app
        super().__init__(("127.0.0.1", port), Handler)
        app.public_url = f"http://127.0.0.1:{self.server_address[1]}"


def _ticker(app: SandboxApp, halt: threading.Event) -> None:
    while not halt.wait(TICK_SECONDS):
        try:
            app.tick()
        except Exception:  # keep ticking: one failed round must not stop confirmations for good
            log.exception("sandbox tick failed")


def serve(app: SandboxApp, port: int, *, ready=None) -> None:
    """Serve until interrupted. `ready(server)` is called once the port is bound."""
    server = SandboxServer(app, port)
    halt = threading.Event()
    app.simulator.start()
    threading.Thread(target=_ticker, args=(app, halt), name="wecom-sandbox-ticker", daemon=True).start()
    if ready:
        ready(server)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        halt.set()
        app.simulator.stop()
        app.callbacks.shutdown()
        server.server_close()
        app.store.close()
