"""Campaigns: what reaches customers and how it is credited.

- `campaigns.content` (app label `content`): the content library (素材库) — versions, maker-checker approval by
  compliance, the finance sensitive-word list, variables, attachments and their WeCom media;
- `campaigns.channels` (`channels`): channel QR codes (渠道活码, 「联系我」), their welcome messages, auto-tags and
  report;
- `campaigns.links` (`links`): tracked links (`/l/<token>`) and the clicks credited to senders and customers.

- `campaigns.playbooks`, `campaigns.delivery`: SOP playbooks, the contact policy, deliveries and operator tasks.
"""
