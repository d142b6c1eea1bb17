"""The tag system: the tag library, customers' tags and their history, and the WeCom corp-tag side.

Plain modules, not a Django app (the models live in `tagging.models`):

    services.py   writes: customers' tags (set-based), the library's groups and tags
    selectors.py  reads: the library with counts, a customer's tags and history, the outbox, bulk jobs
    wecom.py      WeCom: corp tags both ways, the `mark_tag` outbox worker, tags changed in the WeCom client
    starter.py    the starter library for banks (`manage.py seed_tags`) and the demo's customer tags
    tasks.py      Celery tasks (registered through `tagging/tasks.py`)
    forms.py, views.py, urls.py   the pages under /tags/ and the customer page's tags card
"""
