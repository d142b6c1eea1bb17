"""Celery's autodiscovery imports this module: the tag system's tasks live in `tagging.tags.tasks`."""

from tagging.tags import tasks  # noqa: F401 - registers the tasks
