from django.urls import path

from integrations.bank import views

app_name = "imports"

urlpatterns = [
    path("", views.import_list, name="list"),
    path("<int:pk>/progress/", views.import_progress, name="progress"),
    path("<int:pk>/errors/", views.import_errors, name="errors"),
    path("<int:pk>/resume/", views.import_resume_view, name="resume"),
    path("samples/<str:name>", views.import_sample, name="sample"),
]
