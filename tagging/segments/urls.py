from django.urls import path

from tagging.segments import views

app_name = "segments"

urlpatterns = [
    path("", views.segment_list, name="list"),
    path("new/", views.segment_create, name="create"),
    path("preview/", views.preview, name="preview"),
    path("operators/", views.operator_options, name="operator-options"),
    path("<int:pk>/", views.segment_edit, name="edit"),
    path("<int:pk>/delete/", views.segment_delete, name="delete"),
    path("<int:pk>/freeze/", views.segment_freeze, name="freeze"),
    path("<int:pk>/export/", views.segment_export, name="export"),
    path("rules/", views.rule_list, name="rules"),
    path("rules/new/", views.rule_create, name="rule-create"),
    path("rules/<int:pk>/", views.rule_edit, name="rule-edit"),
    path("rules/<int:pk>/run/", views.rule_run, name="rule-run"),
    path("rules/runs/<int:pk>/", views.rule_run_progress, name="rule-run-progress"),
]
