"""One sub-package per external system: `wecom/` (the WeCom client, callbacks, sync, the sandbox) and
`bank/` (imports from the bank's own systems)."""
