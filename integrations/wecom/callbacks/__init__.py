"""WeCom's callbacks (回调): verified and stored by the endpoint, processed by the `callbacks` Celery queue.

`views.py` answers WeCom; `crypto.py` checks the signature and decrypts; `services.py` stores, de-duplicates
and drives processing; `handlers.py` turns each event into calls of `integrations.wecom.contacts`; `tasks.py`
runs them; `welcome.py` sends the welcome message. See docs/wecom-callbacks.md.
"""
