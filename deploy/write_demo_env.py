"""Write the demo's environment file: fresh secrets, the embedded defaults, the local WeCom sandbox address.

Written once; on later runs only the settings a newer version added are appended (a demo made before the chat
sidebar gets WECOM_JSSDK_URL), and nothing already there changes. DATABASE_URL and REDIS_URL are deliberately
absent so the demo uses SQLite and the file broker.
"""

import secrets
import string
import sys
from pathlib import Path

from cryptography.fernet import Fernet


def main(path: str) -> None:
    target = Path(path)
    values = demo_values()
    if target.exists():
        present = {line.split("=", 1)[0] for line in target.read_text().splitlines() if "=" in line}
        missing = {key: value for key, value in values.items() if key not in present}
        if missing:
            with target.open("a") as env:
                env.write("".join(f"{key}={value}\n" for key, value in missing.items()))
            print(f"added {', '.join(missing)} to {target}")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    target.chmod(0o600)
    print(f"wrote {target} (demo secrets; never use them elsewhere)")


def demo_values() -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits
    return {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PII_INDEX_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # The demo is served over plain HTTP on the loopback address.
        "SECURE_COOKIES": "0",
        "WEB_CONCURRENCY": "2",
        "CELERY_CONCURRENCY": "1",
        "WECOM_API_BASE_URL": "http://127.0.0.1:8100/cgi-bin/",
        "WECOM_OAUTH_AUTHORIZE_URL": "http://127.0.0.1:8100/connect/oauth2/authorize",
        "WECOM_JSSDK_URL": "http://127.0.0.1:8100/jssdk/jwxwork.js",
        "WECOM_CORP_ID": "ww" + secrets.token_hex(8),
        "WECOM_SECRET": secrets.token_urlsafe(32),
        "WECOM_AGENT_ID": "1000002",
        "WECOM_CALLBACK_TOKEN": "".join(secrets.choice(alphabet) for _ in range(24)),
        "WECOM_CALLBACK_AES_KEY": "".join(secrets.choice(alphabet) for _ in range(43)),
    }


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "var/demo.env")
