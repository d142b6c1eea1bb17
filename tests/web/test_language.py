"""Chinese by default whatever the browser asks for; English only when the user picks it."""

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_an_english_browser_still_gets_the_chinese_login_page(client):
    body = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert 'lang="zh-hans"' in body and "登录" in body


def test_the_language_switch_cookie_chooses_english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    body = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert 'lang="en"' in body and "Sign in" in body
