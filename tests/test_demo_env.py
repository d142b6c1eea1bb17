"""`deploy/write_demo_env.py`: the demo's environment file is written once and only ever completed later."""

import importlib.util
import stat
from pathlib import Path

from django.conf import settings


def _writer():
    script = Path(settings.BASE_DIR) / "deploy" / "write_demo_env.py"
    spec = importlib.util.spec_from_file_location("write_demo_env", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_a_new_file_has_every_setting_and_only_its_owner_reads_it(tmp_path):
    target = tmp_path / "var" / "demo.env"
    _writer().main(str(target))
    values = _read(target)
    assert values["WECOM_JSSDK_URL"] == "http://127.0.0.1:8100/jssdk/jwxwork.js" and len(values["SECRET_KEY"]) > 40
    assert "DATABASE_URL" not in values and "REDIS_URL" not in values  # the embedded defaults
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_an_older_demo_gets_the_new_settings_and_keeps_its_own(tmp_path):
    target = tmp_path / "demo.env"
    target.write_text("SECRET_KEY=kept-secret\nWECOM_CORP_ID=wwkeep\n")
    writer = _writer()
    writer.main(str(target))
    values = _read(target)
    assert (values["SECRET_KEY"], values["WECOM_CORP_ID"]) == ("kept-secret", "wwkeep")
    assert set(values) == set(writer.demo_values())
    before = target.read_text()
    writer.main(str(target))
    assert target.read_text() == before  # nothing left to add: nothing changes
