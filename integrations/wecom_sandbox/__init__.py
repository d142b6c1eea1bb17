"""The WeCom sandbox: a local server that speaks WeCom's server API, for the demo and the tests (no internet).

`python manage.py wecom_sandbox --port 8100`; docs/wecom-sandbox.md describes every endpoint and knob.

    management/commands/wecom_sandbox.py   options, workbench import, start
    server.py      ThreadingHTTPServer, routing, request log, the ticker
    core.py        SandboxApp: one API call (faults, token, rate limit, transaction), clock, reset
    endpoints/     the WeCom API under /cgi-bin/, one module per area
    state.py       the SQLite state (schema, one lock, transactions)
    dispatch.py    work that falls due: mass-message confirmation and quotas, transfers completing
    events.py      client-side events (adds, edits, deletes, tag changes) and their callback fields
    callbacks.py   encrypted callback delivery with retries; crypto.py builds and encrypts the XML
    simulator.py   customer activity in the background
    faults.py      injected faults; limits.py WeCom's per-API frequency limit
    control.py     /sandbox/api/ for tests and the demo operator; received.py what was received
    site.py, pages.py, html.py   the sandbox page, the OAuth member picker, 「联系我」 codes, media
    seed.py        the corp from JSON or from the workbench database
    client_side.py the WeCom client: a chat opened from the sandbox page, silent OAuth for the chat sidebar
    jssdk.py       the JS-SDK emulation (jssdk.js at /jssdk/jwxwork.js): agentConfig's signature, wx.invoke
"""
