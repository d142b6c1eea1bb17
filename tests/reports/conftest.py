from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401 - fixtures for test_sending
