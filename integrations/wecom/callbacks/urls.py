from django.urls import path

from integrations.wecom.callbacks import views

app_name = "wecom_callbacks"

urlpatterns = [
    path("", views.callback, name="callback"),
]
