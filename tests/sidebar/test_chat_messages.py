"""Content as the JS-SDK's sendChatMessage calls: one per part, with the JS-SDK's field names."""

import pytest

from campaigns.content.services import ContentError
from workbench.sidebar.chat import chat_messages


def test_text_and_attachments_become_one_call_each_in_order():
    calls, text = chat_messages(
        {
            "text": {"content": "王女士您好"},
            "attachments": [
                {"msgtype": "link", "link": {"title": "月月享", "url": "http://wb/l/abc", "desc": "1 元起购",
                                             "picurl": "http://img/1.png"}},
                {"msgtype": "image", "image": {"media_id": "MEDIA1"}},
                {"msgtype": "file", "file": {"media_id": "MEDIA2"}},
            ],
        }
    )  # fmt: skip
    assert calls == [
        {"msgtype": "text", "text": {"content": "王女士您好"}},
        {"msgtype": "news", "news": {"link": "http://wb/l/abc", "title": "月月享", "desc": "1 元起购",
                                     "imgUrl": "http://img/1.png"}},
        {"msgtype": "image", "image": {"mediaid": "MEDIA1"}},
        {"msgtype": "file", "file": {"mediaid": "MEDIA2"}},
    ]  # fmt: skip
    assert text == "王女士您好\n[链接] 月月享 http://wb/l/abc\n[图片]\n[文件]"


def test_a_mini_program_is_refused_rather_than_sent_without_its_image():
    message = {"attachments": [{"msgtype": "miniprogram", "miniprogram": {"title": "t", "appid": "wx1", "page": "p"}}]}
    with pytest.raises(ContentError):
        chat_messages(message)
