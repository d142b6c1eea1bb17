"""The workbench's templates: Chinese by default, htmx fragments where htmx asks, masked PII, a complete catalogue."""

import ast
import gettext
import re
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from workbench.exports.models import ExportJob

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "customer-results"}
PO_FILE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def _text(response) -> str:
    return response.content.decode()


def test_login_page_is_chinese_with_local_assets(db):
    body = _text(Client().get(reverse("login")))
    assert "<title>直营工作台 登录</title>" in body
    assert '<html lang="zh-hans">' in body
    for label in ("用户名", "密码", "登录"):
        assert label in body
    assert "/static/web/workbench.css" in body
    assert "/static/django_htmx/htmx.min.js" in body
    assert "http://" not in body and "https://" not in body, "every asset is served locally"


def test_wrong_password_shows_a_chinese_error(bank):
    response = Client().post(reverse("login"), {"username": "operator_a", "password": "wrong"})
    assert response.status_code == 200
    assert "登录失败：用户名或密码错误" in _text(response)


def test_lockout_page_says_when_to_retry(db):
    with translation.override("zh-hans"):
        body = render_to_string(
            "registration/locked_out.html",
            {"username": "operator", "failure_limit": 5, "cooloff_timedelta": timedelta(minutes=15)},
        )
    assert "账号已被暂时锁定" in body
    assert "15 分钟后再试" in body
    assert "连续 5 次密码错误" in body


def test_server_error_page_renders_without_a_request():
    with translation.override("zh-hans"):
        body = render_to_string("500.html")
    assert "系统出错了" in body and "500" in body


def test_home_shows_summary_cards_and_occupation_bars(bank, login):
    body = _text(login("admin").get(reverse("home")))
    assert "王总，您好" in body
    assert "资产总额(AUM)" in body and "万元" in body
    assert body.count('class="bar-fill"') >= 1
    assert "退休" in body  # b_own is a retiree
    assert "全行" in body


def test_navigation_highlights_the_section_and_hides_audit_from_operators(bank, login):
    body = _text(login("operator_a").get(reverse("customers:list")))
    assert re.search(r'class="nav-link is-active"[^>]*aria-current="page"', body)
    assert reverse("audit:list") not in body
    assert reverse("admin:index") not in body
    admin_body = _text(login("admin").get(reverse("home")))
    assert reverse("audit:list") in admin_body and reverse("admin:index") in admin_body


def test_customer_list_has_no_total_count_and_pages_by_keyset(bank, login):
    body = _text(login("manager_a").get(reverse("customers:list"), {"occupation_group": ""}))
    assert "每页 50 条" in body
    assert "上一页" in body and "下一页" in body
    assert 'hx-target="#customer-results"' in body and 'hx-push-url="true"' in body
    assert "138****5678" in body and "13812345678" not in body


def test_customer_list_fragment_for_htmx_is_only_the_results(bank, login):
    response = login("manager_a").get(reverse("customers:list"), {"q": "甲客户"}, **HTMX)
    body = _text(response)
    assert "<html" not in body and "<table" in body
    assert "甲客户壹" in body


def test_export_form_carries_the_current_filters_only_for_exporters(bank, login):
    params = {"occupation_group": "retiree", "aum_min": "100"}
    body = _text(login("manager_b").get(reverse("customers:list"), params))
    assert reverse("customers:export") in body
    assert '<input type="hidden" name="occupation_group" value="retiree">' in body
    assert '<input type="hidden" name="aum_min" value="100">' in body
    assert reverse("customers:export") not in _text(login("operator_a").get(reverse("customers:list")))


def test_customer_page_masks_pii_and_offers_reveal_only_to_allowed_roles(bank, login):
    customer = bank.customers["a_own"]
    url = reverse("customers:detail", args=[customer.pk])
    operator_body = _text(login("operator_a").get(url))
    assert "138****5678" in operator_body and "13812345678" not in operator_body
    assert "显示完整信息" not in operator_body
    manager_body = _text(login("manager_a").get(url))
    assert "显示完整信息" in manager_body
    assert f'hx-post="{reverse("customers:reveal_pii", args=[customer.pk])}"' in manager_body
    assert "13812345678" not in manager_body


def test_reveal_fragment_shows_full_numbers_and_mentions_the_audit_log(bank, login):
    customer = bank.customers["a_own"]
    response = login("manager_a").post(reverse("customers:reveal_pii", args=[customer.pk]))
    body = _text(response)
    assert "13812345678" in body and "审计日志" in body
    assert "<html" not in body


def test_export_rows_poll_until_finished(bank, login):
    user = bank.user("lead_a")
    running = ExportJob.objects.create(requested_by=user, kind="customers", format="csv", status="running")
    done = ExportJob.objects.create(
        requested_by=user,
        kind="customers",
        format="xlsx",
        status="done",
        rows_written=3,
        total_rows=3,
        file_name="customers.xlsx",
        finished_at=timezone.now(),
    )
    client = login("lead_a")
    body = _text(client.get(reverse("exports:list")))
    assert f'hx-get="{reverse("exports:progress", args=[running.pk])}" hx-trigger="every 2s"' in body
    assert reverse("exports:progress", args=[done.pk]) not in body
    assert reverse("exports:download", args=[done.pk]) in body
    fragment = _text(client.get(reverse("exports:progress", args=[running.pk])))
    assert fragment.startswith("<tr") and 'hx-swap="outerHTML"' in fragment


def test_branch_tree_is_in_tree_order_with_indentation(bank, login):
    body = _text(login("admin").get(reverse("org:branches")))
    names = [branch.name for branch in sorted(bank.branches, key=lambda branch: branch.path)]
    positions = [body.index(f">{name}</span>") for name in names]
    assert positions == sorted(positions)
    assert "--depth: 3" in body  # 甲网点, three levels below 总行


def test_operator_list_filters_by_status(bank, login):
    body = _text(login("admin").get(reverse("org:operators"), {"status": "resigned"}))
    assert "陈离职" in body and "赵甲" not in body
    assert '<option value="resigned" selected>' in body


def test_audit_page_lists_events_with_paging(bank, login):
    client = login("admin")
    client.post(reverse("customers:reveal_pii", args=[bank.customers["a_own"].pk]))
    body = _text(client.get(reverse("audit:list"), {"action": "pii_view"}))
    assert "查看个人敏感信息" in body
    assert "第 1 / 1 页" in body


def test_error_pages_are_in_the_workbench_style(bank, login):
    operator = login("operator_a")
    forbidden = operator.get(reverse("audit:list"))
    assert forbidden.status_code == 403 and "无权访问" in _text(forbidden)
    missing = operator.get(reverse("customers:detail", args=[bank.customers["b_own"].pk]))
    assert missing.status_code == 404 and "页面不存在" in _text(missing)
    anonymous = Client().get("/no-such-page/")
    assert anonymous.status_code == 404 and "页面不存在" in _text(anonymous)


def test_language_switch_goes_to_english_and_back(bank, login):
    client = login("operator_a")
    assert "客户" in _text(client.get(reverse("customers:list")))
    client.post(reverse("set_language"), {"language": "en", "next": reverse("customers:list")})
    english = _text(client.get(reverse("customers:list")))
    assert '<html lang="en">' in english and "Previous page" in english and "每页" not in english
    client.post(reverse("set_language"), {"language": "zh-hans", "next": reverse("customers:list")})
    assert "每页 50 条" in _text(client.get(reverse("customers:list")))


def _po_entries(text: str):
    """(msgctxt, msgid, msgid_plural, msgstr, flags) of every .po entry; enough of the format for this check."""
    for block in text.strip().split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#~")]
        flags = " ".join(line for line in lines if line.startswith("#,"))
        fields: dict[str, str] = {}
        current = None
        for line in lines:
            match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[0\])?)\s+"(.*)"$', line)
            if match:
                current = match.group(1).replace("[0]", "")
                fields[current] = match.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
        if "msgid" in fields:
            values = {key: ast.literal_eval(f'"{value}"') for key, value in fields.items()}
            yield values.get("msgctxt"), values["msgid"], values.get("msgid_plural"), values.get("msgstr", ""), flags


def test_every_message_is_translated_and_compiled():
    entries = [entry for entry in _po_entries(PO_FILE.read_text(encoding="utf-8")) if entry[1]]
    assert entries
    untranslated = [msgid for _ctx, msgid, _plural, msgstr, _flags in entries if not msgstr]
    fuzzy = [msgid for _ctx, msgid, _plural, _msgstr, flags in entries if "fuzzy" in flags]
    assert not untranslated, f"untranslated: {untranslated}"
    assert not fuzzy, f"fuzzy: {fuzzy}"
    with PO_FILE.with_suffix(".mo").open("rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    stale = []
    for ctx, msgid, plural, msgstr, _flags in entries:
        if plural:
            got = catalogue.npgettext(ctx, msgid, plural, 1) if ctx else catalogue.ngettext(msgid, plural, 1)
        else:
            got = catalogue.pgettext(ctx, msgid) if ctx else catalogue.gettext(msgid)
        if got != msgstr:
            stale.append(msgid)
    assert not stale, f"django.mo is older than django.po (run compilemessages): {stale}"
