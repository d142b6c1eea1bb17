from django.urls import path

from campaigns.channels import views

app_name = "channels"

urlpatterns = [
    path("", views.code_list, name="list"),
    path("new", views.code_create, name="create"),
    path("report/", views.report, name="report"),
    path("<int:pk>/", views.code_edit, name="edit"),
    path("<int:pk>/delete", views.code_delete, name="delete"),
    path("<int:pk>/qr", views.code_qr, name="qr"),
]
