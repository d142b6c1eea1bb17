from django.urls import path

from workbench.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.index, name="index"),
    path("branch/<int:pk>/", views.branch, name="branch"),
    path("operator/<int:pk>/", views.operator, name="operator"),
    path("export/", views.export, name="export"),
    path("send-now/", views.send_now, name="send-now"),
]
