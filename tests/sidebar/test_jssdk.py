"""The JS-SDK signature and the app's jsapi ticket, against WeCom's documented example and the sandbox."""

import pytest

from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401 - fixtures
from workbench.sidebar import jssdk

pytestmark = pytest.mark.django_db


def test_signature_matches_wecoms_documented_example():
    # 「JS-SDK使用权限签名算法」: the worked example of WeCom's (and WeChat's) documentation.
    assert (
        jssdk.signature(
            ticket="sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
            noncestr="Wm3WZYTPz0wzccnW",
            timestamp=1414587457,
            url="http://mp.weixin.qq.com?params=value",
        )
        == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
    )


def test_signature_ignores_the_fragment_and_changes_with_every_field():
    base = {"ticket": "t1", "noncestr": "n1", "timestamp": 1700000000, "url": "https://bank.example/sidebar/"}
    signed = jssdk.signature(**base)
    assert jssdk.signature(**base | {"url": "https://bank.example/sidebar/#top"}) == signed
    for field, other in (("ticket", "t2"), ("noncestr", "n2"), ("timestamp", 1700000001), ("url", "https://x/")):
        assert jssdk.signature(**base | {field: other}) != signed


def test_agent_ticket_is_fetched_once_and_shared(sandbox):  # noqa: F811
    first = jssdk.agent_config("http://127.0.0.1:8000/sidebar/")
    second = jssdk.agent_config("http://127.0.0.1:8000/sidebar/")
    assert sandbox.state()["calls"].get("ticket/get") == 1
    assert first["corpid"] == sandbox.corp_id and first["agentid"] == sandbox.agent_id
    assert first["signature"] != second["signature"] or first["nonceStr"] == second["nonceStr"]
    ticket = sandbox.api("ticket/get", type="agent_config")["ticket"]  # the sandbox answers the same valid ticket
    assert first["signature"] == jssdk.signature(
        ticket=ticket, noncestr=first["nonceStr"], timestamp=first["timestamp"], url="http://127.0.0.1:8000/sidebar/"
    )
    jssdk.forget_agent_ticket()
    jssdk.agent_config("http://127.0.0.1:8000/sidebar/")
    assert sandbox.state()["calls"].get("ticket/get") == 3  # the test's own call, and one after forgetting
