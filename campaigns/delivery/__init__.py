"""The delivery engine: the contact policy, deliveries and WeCom mass-send tasks, operator tasks (待办).

Read docs/delivery.md first; docs/delivery-contract.md is the interface the playbooks build on.
"""
