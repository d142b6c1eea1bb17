"""The customer 360 page's actions, under /customers/<pk>/ in the "customers" namespace (tagging/urls.py)."""

from django.urls import path

from tagging import customer_actions

urlpatterns = [
    path("notes/", customer_actions.note_add, name="note-add"),
    path("tasks/", customer_actions.task_create, name="task-create"),
    path("playbooks/", customer_actions.enrol, name="enrol"),
]
