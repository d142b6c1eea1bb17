from django.urls import path

from tagging.tags import views

app_name = "tags"

urlpatterns = [
    path("", views.library, name="library"),
    path("groups/new/", views.group_new, name="group-new"),
    path("groups/<int:pk>/", views.group_edit, name="group-edit"),
    path("groups/<int:pk>/delete/", views.group_delete, name="group-delete"),
    path("new/", views.tag_new, name="tag-new"),
    path("<int:pk>/", views.tag_edit, name="tag-edit"),
    path("<int:pk>/delete/", views.tag_delete, name="tag-delete"),
    path("wecom/", views.outbox, name="outbox"),
    path("wecom/retry/", views.outbox_retry, name="outbox-retry"),
    path("customers/<int:pk>/", views.customer_tags, name="customer"),
    path("bulk/", views.bulk, name="bulk"),
    path("bulk/<int:pk>/", views.job_progress, name="job-progress"),
]
