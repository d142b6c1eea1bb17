"""`python manage.py wecom_sandbox --port 8100`: run the local WeCom sandbox (docs/wecom-sandbox.md)."""

import contextlib
import signal
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from integrations.wecom_sandbox import seed
from integrations.wecom_sandbox.config import QUOTA_MODES, Identity, Settings
from integrations.wecom_sandbox.core import SandboxApp
from integrations.wecom_sandbox.server import serve
from integrations.wecom_sandbox.state import Store

DEFAULT_CALLBACK_URL = "http://127.0.0.1:8000/wecom/callback/"
# Used only when the settings carry no corp (a bare development checkout).
FALLBACK_CORP_ID = "wwsandbox0000001"
FALLBACK_SECRET = "sandbox-secret"  # noqa: S105 - a placeholder for local development, never a real secret


class Command(BaseCommand):
    help = "Run the WeCom sandbox: a local server speaking WeCom's API, with its own SQLite state."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8100, help="port on 127.0.0.1 (0: any free port)")
        parser.add_argument("--state", help="SQLite state file (default: $VAR_DIR/wecom-sandbox.sqlite3)")
        parser.add_argument("--reset", action="store_true", help="forget the state file's contents first")
        parser.add_argument("--from-workbench", action="store_true", help="load the corp from the workbench database")
        parser.add_argument(
            "--no-workbench", action="store_true", help="never load the workbench database, even into an empty state"
        )
        parser.add_argument("--corp-id", default=settings.WECOM_CORP_ID or FALLBACK_CORP_ID)
        parser.add_argument("--secret", default=settings.WECOM_SECRET or FALLBACK_SECRET)
        parser.add_argument("--agent-id", type=int, default=settings.WECOM_AGENT_ID or 1000002)
        parser.add_argument("--callback-url", default=DEFAULT_CALLBACK_URL, help="'' turns callbacks off")
        parser.add_argument("--callback-token", default=settings.WECOM_CALLBACK_TOKEN)
        parser.add_argument("--callback-aes-key", default=settings.WECOM_CALLBACK_AES_KEY)
        parser.add_argument("--simulate", action="store_true", help="run the customer-activity simulator")
        parser.add_argument("--no-simulate", action="store_true", help="do not simulate (the default)")
        parser.add_argument("--simulate-interval", type=float, default=20.0, help="seconds between simulated events")
        parser.add_argument("--confirm-delay", type=float, default=5.0, help="seconds until members confirm mass sends")
        parser.add_argument(
            "--slow-confirm-share", type=float, help="share of members who confirm late (default 0.3 with --simulate)"
        )
        parser.add_argument("--transfer-delay", type=float, default=60.0, help="seconds until transfers complete")
        parser.add_argument("--transfer-refuse-rate", type=float, help="share of on-the-job transfers refused")
        parser.add_argument("--quota-mode", choices=QUOTA_MODES, default="monthly")
        parser.add_argument("--seed", type=int, help="random seed of the simulator and fault dice")
        parser.add_argument("--quiet", action="store_true", help="no per-request log lines")

    def handle(self, *args, **options):
        aes_key = options["callback_aes_key"] or ""
        if aes_key and len(aes_key) != 43:
            raise CommandError("--callback-aes-key must be the 43-character EncodingAESKey")
        simulate = options["simulate"] and not options["no_simulate"]
        refuse_rate = options["transfer_refuse_rate"]
        slow_share = options["slow_confirm_share"]
        identity = Identity(
            corp_id=options["corp_id"],
            secret=options["secret"],
            agent_id=options["agent_id"],
            callback_token=options["callback_token"] or "",
            callback_aes_key=aes_key,
        )
        runtime = Settings(
            callback_url=options["callback_url"],
            quota_mode=options["quota_mode"],
            confirm_delay=options["confirm_delay"],
            slow_confirm_share=(0.3 if simulate else 0.0) if slow_share is None else slow_share,
            transfer_delay=options["transfer_delay"],
            transfer_refuse_rate=(0.1 if simulate else 0.0) if refuse_rate is None else refuse_rate,
            simulate=simulate,
            simulate_interval=options["simulate_interval"],
        )
        path = Path(options["state"] or Path(settings.VAR_DIR) / "wecom-sandbox.sqlite3")
        store = Store(path)
        app = SandboxApp(identity=identity, settings=runtime, store=store, quiet=options["quiet"], seed=options["seed"])
        if options["reset"]:
            store.clear()
        self._maybe_import(app, options)
        # The workbench database is only read at start: hold no connection to it while serving.
        connections.close_all()

        def ready(server):
            url = app.public_url
            self.stdout.write(f"WeCom sandbox listening on {url}/ (corp {identity.corp_id}, state {path})")
            self.stdout.write(f"  API {url}/cgi-bin/  ·  page {url}/sandbox/  ·  control {url}/sandbox/api/")
            sys.stdout.flush()

        # SIGTERM (honcho, the tests) stops the server cleanly like Ctrl-C does.
        signal.signal(signal.SIGTERM, _interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            serve(app, options["port"], ready=ready)

    def _maybe_import(self, app: SandboxApp, options) -> None:
        if options["no_workbench"] and not options["from_workbench"]:
            return
        if not options["from_workbench"] and not (app.store.is_empty() and seed.workbench_has_branches()):
            return
        counts = seed.seed_workbench(app.store, app.now())
        self.stderr.write(
            "Loaded the corp from the workbench: " + ", ".join(f"{count} {name}" for name, count in counts.items())
        )


def _interrupt(signum, frame):
    raise KeyboardInterrupt
