from django.urls import path

from integrations.wecom import views

app_name = "wecom"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("syncs/start", views.sync_start, name="sync-start"),
    path("syncs/<int:pk>/progress", views.sync_progress, name="sync-progress"),
    path("contacts/unmatched/", views.unmatched_list, name="unmatched"),
    path("contacts/<int:pk>/link", views.unmatched_link, name="unmatched-link"),
    path("transfers/", views.transfer_list, name="transfers"),
]
