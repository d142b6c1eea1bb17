"""Content, playbooks (SOP), the contact policy, deliveries, operator tasks and channel codes.

Installed as a Django app once its first model lands (see the issue tracker for the order of work).
"""
