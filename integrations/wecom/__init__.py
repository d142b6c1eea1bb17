"""WeCom: the one client (`client.py`), the directory and contact sync, callbacks and customer transfers.

The product talks to WeCom only through `client.get_client()`; the sandbox (`integrations.wecom_sandbox`) is
just another server that speaks the same API.
"""
